"""Audio: ``conversion`` decodes and checks recordings (ffmpeg through pydub), ``silence`` finds
the speech in them, ``speech`` transcribes and synthesizes, ``recordings`` decides how a voice
note or recording is handled (limits, transcripts as conversation context) for every channel,
and ``media_fetch`` downloads media from a link.
"""

"""The channels KRATOS answers on: ``telegram``, ``whatsapp`` and the terminal ``console``.

Each one receives messages, downloads, replies and formats; the assistant core
(``bot.core.assistant``) answers and never imports a channel, and no channel imports another.
What every channel shares lives here, outside any one of them: ``text`` lays replies out for a
phone, ``banner`` is the start-up summary, ``web`` is the one HTTP server their webhooks share,
and ``run`` starts every configured channel for ``kratos run``. How a voice note or a recording
is handled is decided once, in ``bot.audio.recordings``.
"""

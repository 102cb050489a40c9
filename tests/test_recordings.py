"""What every channel does with a voice note or a recording (bot.audio.recordings)."""

from __future__ import annotations

import pytest

from bot.audio.conversion import MediaTooBig, MediaTooLong, UnsupportedMedia
from bot.audio.recordings import (
    IncomingMedia,
    NoSpeechService,
    check_before_download,
    inline_transcript,
    invitation,
    spoken_duration,
)
from bot.audio.speech import Transcript

MB = 1024 * 1024


def media(kind: str = "audio", *, size: int | None = MB, duration: float | None = 30.0,
          mime_type: str | None = "audio/mpeg", file_name: str | None = "a.mp3") -> IncomingMedia:
    return IncomingMedia(kind, "id", size, duration, mime_type, file_name)


@pytest.mark.parametrize(("item", "speech", "error"), [
    # Not media at all is said first, even without a speech service.
    (media(mime_type="application/pdf", file_name="c.pdf"), False, UnsupportedMedia),
    (media(), False, NoSpeechService),
    (media(size=21 * MB), True, MediaTooBig),
    (media(duration=61 * 60), True, MediaTooLong),
    # WhatsApp's MIME types carry parameters ("audio/ogg; codecs=opus").
    (media("voice", mime_type="audio/ogg; codecs=opus", file_name=None), True, None),
    (media(size=None, duration=None), True, None),
])
def test_what_is_refused_before_any_download(item: IncomingMedia, speech: bool,
                                             error: type[Exception] | None) -> None:
    def check() -> None:
        check_before_download(item, limit_bytes=20 * MB, max_minutes=60,
                              speech_available=speech)

    if error is None:
        check()
    else:
        with pytest.raises(error):
            check()


def test_names_and_durations_for_people() -> None:
    assert media(file_name=None, mime_type="audio/ogg; codecs=opus").download_name == \
        "recording.oga"
    assert media("voice").download_name == "voice.ogg"
    assert media(file_name="Reunión de ventas (final).m4a").transcript_file_name("es") == \
        "transcripcion-Reuni_n_de_ventas_final_.txt"
    assert media(file_name=None).display_name("en") == "audio"
    assert [spoken_duration(s) for s in (0.2, 45, 200, 3900)] == [
        "1 s", "45 s", "3 min 20 s", "1 h 05 min"]


def test_the_invitation_names_the_channels_way_to_forget() -> None:
    short = Transcript("hola", 4.0, 1)
    assert invitation(short, "es").endswith("Con /reset la olvido.")
    assert invitation(short, "es", reset="*reset*").endswith("Con *reset* la olvido.")
    long = Transcript("palabra " * 5000, 3600.0, 3)
    assert "primeros" in invitation(long, "es")
    assert inline_transcript(short, "nota", "es") == "📝 Transcripción de «nota» (4 s):\n\nhola"
    assert inline_transcript(long, "nota", "es") is None

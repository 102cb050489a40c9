"""Speech or silence: measured on real audio made with the bundled ffmpeg, and the transcripts
cleaned of what Whisper invents, through the real OpenAI client and the fake API server."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from bot.audio.conversion import convert_for_transcription, ffmpeg_executable
from bot.audio.silence import (
    MIN_SPEECH_S,
    Segment,
    clean_transcript,
    drop_silence_phrases,
    is_silence_phrase,
    map_speech,
)
from bot.audio.speech import transcribe
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest

#: What ffmpeg's lavfi sources make, five seconds each, as a phone's voice note (OGG/Opus).
SOUNDS = {
    "digital silence": "anullsrc=r=48000:cl=mono:duration=5",
    "white noise": "anoisesrc=color=white:amplitude=0.004:duration=5:sample_rate=48000",
    "pink noise": "anoisesrc=color=pink:amplitude=0.01:duration=5:sample_rate=48000",
    "brown noise": "anoisesrc=color=brown:amplitude=0.02:duration=5:sample_rate=48000",
    "mains hum": "sine=frequency=50:sample_rate=48000:duration=5,volume=0.05",
    "a click": "sine=frequency=440:sample_rate=48000:duration=5,"
               "volume='if(lt(t,0.1),1,0)':eval=frame",
    "steady tone": "sine=frequency=440:sample_rate=48000:duration=5",
    "syllables": "sine=frequency=220:sample_rate=48000:duration=5,"
                 "volume='if(lt(mod(t,0.5),0.3),1,0)':eval=frame",
    "one word, then silence": "sine=frequency=300:sample_rate=48000:duration=5,"
                              "volume='if(lt(t,0.6),1,0)':eval=frame",
}
SILENT = ("digital silence", "white noise", "pink noise", "brown noise", "mains hum", "a click")
SPOKEN = ("steady tone", "syllables", "one word, then silence")
AMARA = "Subtítulos realizados por la comunidad de Amara.org"


def make_sound(path: Path, source: str, codec: tuple[str, ...] = ("-c:a", "libopus", "-b:a",
                                                                  "24k", "-f", "ogg")) -> Path:
    """Render a lavfi filter graph to ``path`` with the bundled ffmpeg."""
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", source, "-ac", "1", *codec, str(path)],
                   check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sounds")
    return {name: make_sound(folder / f"{index}.oga", source)
            for index, (name, source) in enumerate(SOUNDS.items())}


@pytest.mark.parametrize("name", SILENT)
def test_silence_and_background_noise_hold_no_speech(name: str, sounds: dict[str, Path],
                                                     tmp_path: Path) -> None:
    speech = map_speech(convert_for_transcription(sounds[name], tmp_path))
    assert not speech.has_speech()
    assert speech.voiced_s() < MIN_SPEECH_S
    assert speech.duration_s == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize("name", SPOKEN)
def test_voice_loud_sound_counts_as_speech(name: str, sounds: dict[str, Path],
                                           tmp_path: Path) -> None:
    speech = map_speech(convert_for_transcription(sounds[name], tmp_path))
    assert speech.has_speech()
    assert speech.loudest_dbfs > -30


def test_speech_is_located_in_time(sounds: dict[str, Path], tmp_path: Path) -> None:
    speech = map_speech(convert_for_transcription(sounds["one word, then silence"], tmp_path))
    assert speech.voiced_s() == pytest.approx(0.6, abs=0.05)
    assert speech.has_speech(0.0, 1.0) and not speech.has_speech(1.0, 5.0)
    assert speech.voiced_share() == pytest.approx(0.12, abs=0.02)


@pytest.mark.parametrize("phrase", [
    AMARA, "Subtítulos por la comunidad de Amara.org", "subtitulado por la comunidad de amara org",
    "¡Gracias por ver el video!", "Gracias.", "Muchas gracias por ver.", "¡Suscríbete!",
    "Suscríbete al canal y dale like", "Thank you for watching!", "Thanks for watching.",
    "Subtitles by the Amara.org community", "Hasta la próxima.",
])
def test_known_silence_phrases_are_recognised(phrase: str) -> None:
    assert is_silence_phrase(phrase)


@pytest.mark.parametrize("question", [
    "¿cuál es el producto más caro?", "gracias por la laptop, ¿tienen cargadores?",
    "¿tienen el video beam Epson?", "suscripción anual de antivirus", "¿Amara tiene tienda?",
])
def test_real_questions_are_not_silence_phrases(question: str) -> None:
    assert not is_silence_phrase(question)


def test_only_the_invented_sentences_are_dropped() -> None:
    assert drop_silence_phrases(f"¿Tienen laptops Lenovo? {AMARA}") == "¿Tienen laptops Lenovo?"
    assert drop_silence_phrases(f"{AMARA} ¡Suscríbete!") == ""


def test_clean_transcript_follows_the_servers_no_speech_signals() -> None:
    segments = [Segment("¿Tienen monitores LG?", 0.02, -0.2),
                Segment("Gracias por ver el video.", 0.92, -1.4),
                Segment("Suscríbete.", 0.85, -0.3),  # sure of its words, but no speech
                Segment("y también teclados", 0.7, -0.4)]  # no known phrase, confident words
    assert clean_transcript("ignored", segments, voiced_share=1.0) == (
        "¿Tienen monitores LG? y también teclados")
    # The text alone when the server sends no segments.
    assert clean_transcript(AMARA, None, voiced_share=1.0) == AMARA
    assert clean_transcript(AMARA, None, voiced_share=0.2) == ""
    assert clean_transcript("Gracias.", [], voiced_share=0.9) == "Gracias."


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    llm = AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0, timeout=30)
    yield llm
    await llm.close()


@pytest.fixture
def settings(fake: FakeOpenAI, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url,
                         OPENAI_MAX_RETRIES="0")


@pytest.mark.parametrize("name", SILENT)
async def test_a_silent_recording_is_never_uploaded(
        name: str, sounds: dict[str, Path], fake: FakeOpenAI, client: AsyncOpenAI,
        settings: Settings) -> None:
    fake.transcription(AMARA, default=True)
    transcript = await transcribe(client, settings, sounds[name])
    assert transcript.text == ""
    assert transcript.silent_chunks == transcript.chunks == 1
    assert fake.transcription_requests == []


async def test_an_invented_line_on_a_mostly_silent_note_is_dropped(
        sounds: dict[str, Path], fake: FakeOpenAI, client: AsyncOpenAI,
        settings: Settings) -> None:
    fake.transcription(f"Sí. {AMARA}")
    transcript = await transcribe(client, settings, sounds["one word, then silence"])
    assert transcript.text == "Sí."
    [request] = fake.transcription_requests
    assert request.form["response_format"] == "verbose_json"


async def test_segments_the_server_marks_as_silence_are_dropped(
        sounds: dict[str, Path], fake: FakeOpenAI, client: AsyncOpenAI,
        settings: Settings) -> None:
    fake.transcription("¿Tienen monitores? Gracias por ver el video.",
                       segments=[("¿Tienen monitores?", 0.01, -0.2),
                                 ("Gracias por ver el video.", 0.95, -1.6)])
    transcript = await transcribe(client, settings, sounds["syllables"])
    assert transcript.text == "¿Tienen monitores?"


async def test_silent_chunks_of_a_long_recording_are_skipped(
        tmp_path: Path, fake: FakeOpenAI, client: AsyncOpenAI, settings: Settings) -> None:
    # 90 s: talk, then a minute of quiet room noise, then talk again; cut into ~20 s chunks.
    source = ("sine=frequency=250:sample_rate=16000:duration=90,"
              "volume='if(between(t,10,80),0,1)':eval=frame[tone];"
              "anoisesrc=color=pink:amplitude=0.01:duration=90:sample_rate=16000[room];"
              "[tone][room]amix=inputs=2:normalize=0")
    meeting = make_sound(tmp_path / "meeting.wav", source, ("-c:a", "pcm_s16le"))

    def by_chunk(request: RecordedRequest) -> str:
        assert request.file is not None
        return f"parte {request.file.name.rsplit('-', 1)[-1].split('.')[0]}."

    fake.transcription(by_chunk, default=True)
    transcript = await transcribe(client, settings, meeting, upload_limit=640_000)

    assert transcript.chunks == 5
    assert transcript.silent_chunks == 3
    assert transcript.text == "parte 000. parte 004."
    assert len(fake.transcription_requests) == 2

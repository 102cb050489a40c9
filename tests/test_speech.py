"""Transcription and speech end to end: real audio, the real OpenAI client, a fake API server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import struct
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from bot.__main__ import main
from bot.audio.conversion import (
    CorruptMedia,
    MediaTooLong,
    NoAudioTrack,
    decoded_bytes_limit,
    ffmpeg_executable,
    probe,
)
from bot.audio.speech import (
    SpeechUnavailable,
    TranscriptionRefused,
    TranscriptionUnavailable,
    synthesize_voice,
    transcribe,
)
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest

LONG_MINUTES = 40
LONG_CHUNKS = 4  # 40 minutes of 16 kHz 16-bit WAV in uploads of at most 24 MiB


def ffmpeg(*args: str) -> bytes:
    """Run the bundled ffmpeg quietly; fail the test on an error; return stdout."""
    return subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True, capture_output=True, timeout=300,
    ).stdout


def describe(data: bytes) -> tuple[float, str]:
    """(seconds of audio, ffmpeg's description of its first audio stream) of uploaded bytes."""
    pcm = subprocess.run(
        [ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-i", "pipe:0",
         "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"],
        input=data, capture_output=True, timeout=60, check=True,
    ).stdout
    info = subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", "pipe:0"],
                          input=data, capture_output=True, timeout=60, check=False)
    streams = [ln for ln in info.stderr.decode().splitlines() if "Audio:" in ln]
    return len(pcm) / 32000, streams[0].split("Audio:", 1)[1].strip() if streams else ""


def chunk_index(request: RecordedRequest) -> int:
    """Which chunk an upload is, from the numbered name bot.audio.conversion gives chunks."""
    assert request.file is not None
    match = re.search(r"-(\d{3})\.\w+$", request.file.name)
    assert match, request.file.name
    return int(match.group(1))


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech_media")


@pytest.fixture(scope="module")
def voice_note(media_dir: Path) -> Path:
    """A 5-second Telegram-style voice note: OGG/Opus, mono, 48 kHz."""
    path = media_dir / "voice.oga"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=5",
           "-ac", "1", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", str(path))
    return path


@pytest.fixture(scope="module")
def long_recording(media_dir: Path) -> Path:
    """40 minutes, 8 s of tone and 2 s of silence at a time, as cheap low-bitrate Opus."""
    path = media_dir / "meeting.oga"
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=250:sample_rate=8000:duration={LONG_MINUTES * 60}",
           "-af", "volume='if(lt(mod(t,10),8),1,0)':eval=frame", "-ac", "1",
           "-c:a", "libopus", "-b:a", "6k", "-compression_level", "0", "-frame_duration", "60",
           "-f", "ogg", str(path))
    return path


@pytest.fixture(scope="module")
def lying_recording(media_dir: Path) -> Path:
    """Three minutes of silence in WebM/Opus whose header claims 10 s: the Matroska Duration
    element (ID 0x4489, an 8-byte float in milliseconds) is rewritten, as a forged file has it."""
    honest = media_dir / "honest.webm"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "180", "-c:a", "libopus",
           "-b:a", "6k", "-frame_duration", "60", str(honest))
    data = bytearray(honest.read_bytes())
    at = data.find(b"\x44\x89\x88")
    assert at > 0, "no 8-byte Duration element"
    data[at + 3:at + 11] = struct.pack(">d", 10_000.0)
    path = media_dir / "lying.webm"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def video_without_audio(media_dir: Path) -> Path:
    path = media_dir / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2", "-an",
           "-c:v", "libx264", "-preset", "ultrafast", str(path))
    return path


@pytest.fixture
def garbage(tmp_path: Path) -> Path:
    path = tmp_path / "nota.oga"
    path.write_bytes(random.Random(11).randbytes(8000))
    return path


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def speech_settings(fake: FakeOpenAI,
                    make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings pointing at the fake API, with no retries so failures show at once."""

    def make(**overrides: str) -> Settings:
        return make_settings(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url,
                             OPENAI_MAX_RETRIES="0", **overrides)

    return make


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    llm = AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0, timeout=30)
    yield llm
    await llm.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


async def test_uploads_16k_mono_wav_with_model_language_and_prompt(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        voice_note: Path, workdir: Path) -> None:
    heard: list[tuple[float, str]] = []

    async def answer(request: RecordedRequest) -> str:
        assert request.file is not None
        heard.append(await asyncio.to_thread(describe, request.file.data))
        return "  quiero un televisor Samsung  "

    fake.transcription(answer)
    transcript = await transcribe(client, speech_settings(), voice_note,
                                  prompt="Samsung, Xiaomi, Lenovo", workdir=workdir)

    assert transcript.text == "quiero un televisor Samsung"
    assert transcript.chunks == 1
    assert transcript.duration_s == pytest.approx(5.0, abs=0.1)
    [request] = fake.transcription_requests
    assert request.file is not None
    assert request.file.name.endswith(".wav")
    assert request.file.content_type == "audio/wav"
    assert request.file.data[:4] == b"RIFF"
    assert request.form == {"model": "whisper-1", "language": "es",
                            "prompt": "Samsung, Xiaomi, Lenovo", "response_format": "verbose_json"}
    [(seconds, stream)] = heard
    assert seconds == pytest.approx(5.0, abs=0.1)
    assert stream.startswith("pcm_s16le") and "16000 Hz" in stream and "mono" in stream
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(("fmt", "extension", "mime", "codec"), [
    ("mp3", ".mp3", "audio/mpeg", "mp3"),
    ("flac", ".flac", "audio/flac", "flac"),
    ("ogg", ".ogg", "audio/ogg", "opus"),
])
async def test_other_upload_formats(fmt: str, extension: str, mime: str, codec: str,
                                    fake: FakeOpenAI, client: AsyncOpenAI,
                                    speech_settings: Callable[..., Settings],
                                    voice_note: Path, workdir: Path) -> None:
    fake.transcription("hola")
    settings = speech_settings(TRANSCRIBE_FORMAT=fmt, TRANSCRIBE_MODEL="gpt-4o-mini-transcribe",
                               TRANSCRIBE_LANGUAGE="")
    transcript = await transcribe(client, settings, voice_note, workdir=workdir)

    assert transcript.text == "hola"
    [request] = fake.transcription_requests
    assert request.file is not None
    assert request.file.name.endswith(extension)
    assert request.file.content_type == mime
    assert request.form == {"model": "gpt-4o-mini-transcribe", "response_format": "json"}
    seconds, stream = describe(request.file.data)
    assert seconds == pytest.approx(5.0, abs=0.1)
    assert stream.startswith(codec)
    assert list(workdir.iterdir()) == []


async def test_long_recording_is_split_and_joined_in_order(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        long_recording: Path, workdir: Path) -> None:
    seconds_heard: dict[int, float] = {}
    done = [asyncio.Event() for _ in range(LONG_CHUNKS)]
    finished: list[int] = []

    async def answer(request: RecordedRequest) -> str:
        assert request.file is not None
        index = chunk_index(request)
        seconds_heard[index], _ = await asyncio.to_thread(describe, request.file.data)
        # Each chunk waits for the next one to be answered, so the last chunk is answered
        # first and the first chunk last.
        if index + 1 < LONG_CHUNKS:
            await asyncio.wait_for(done[index + 1].wait(), 30)
        finished.append(index)
        done[index].set()
        return f"parte {index}."

    fake.transcription(answer, default=True)
    settings = speech_settings(TRANSCRIBE_CONCURRENCY=str(LONG_CHUNKS))
    transcript = await transcribe(client, settings, long_recording, workdir=workdir)

    assert finished == list(reversed(range(LONG_CHUNKS)))
    assert transcript.text == "parte 0. parte 1. parte 2. parte 3."
    assert transcript.chunks == LONG_CHUNKS
    assert transcript.duration_s == pytest.approx(LONG_MINUTES * 60, abs=0.1)
    assert len(fake.transcription_requests) == LONG_CHUNKS
    for request in fake.transcription_requests:
        assert request.file is not None
        assert len(request.file.data) <= 24 * 1024 * 1024
        assert request.file.name.endswith(".wav")
    assert sum(seconds_heard.values()) == pytest.approx(LONG_MINUTES * 60, abs=0.1)
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_concurrency_bound_holds(concurrency: int, fake: FakeOpenAI, client: AsyncOpenAI,
                                       speech_settings: Callable[..., Settings],
                                       long_recording: Path, workdir: Path) -> None:
    in_flight = 0
    most = 0
    full = asyncio.Event()

    async def answer(request: RecordedRequest) -> str:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight >= concurrency:
            full.set()
        # Hold each answer until the bound is reached, then long enough for any upload past
        # the bound to arrive too.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), 10)
        await asyncio.sleep(0.3)
        in_flight -= 1
        return f"{chunk_index(request)}"

    fake.transcription(answer, default=True)
    settings = speech_settings(TRANSCRIBE_CONCURRENCY=str(concurrency))
    transcript = await transcribe(client, settings, long_recording, workdir=workdir)

    assert transcript.text == "0 1 2 3"
    assert most == concurrency


async def test_server_error_gives_the_kind_message(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        voice_note: Path, workdir: Path) -> None:
    fake.fail(500, endpoint="transcription")
    with pytest.raises(TranscriptionUnavailable) as failed:
        await transcribe(client, speech_settings(), voice_note, workdir=workdir)
    assert failed.value.user_message("es").startswith(
        "No pude transcribir el audio ahora, intenta de nuevo")
    assert "couldn't transcribe the audio right now" in failed.value.user_message("en")
    assert list(workdir.iterdir()) == []


async def test_one_failed_chunk_fails_the_whole_recording(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        long_recording: Path, workdir: Path) -> None:
    fake.transcription("bien", default=True)
    fake.fail(429, endpoint="transcription")
    with pytest.raises(TranscriptionUnavailable):
        await transcribe(client, speech_settings(TRANSCRIBE_CONCURRENCY="1"), long_recording,
                         workdir=workdir)
    assert len(fake.transcription_requests) == 1
    assert list(workdir.iterdir()) == []


async def test_timeout_gives_the_kind_message(
        fake: FakeOpenAI, speech_settings: Callable[..., Settings], voice_note: Path,
        workdir: Path) -> None:
    settings = speech_settings(OPENAI_TIMEOUT="0.5")
    fake.hang(30, endpoint="transcription")
    async with AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0,
                           timeout=settings.openai_timeout) as llm:
        with pytest.raises(TranscriptionUnavailable):
            await asyncio.wait_for(transcribe(llm, settings, voice_note, workdir=workdir), 10)
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(("fixture", "error", "spanish"), [
    ("garbage", CorruptMedia, "No pude leer ese audio"),
    ("video_without_audio", NoAudioTrack, "no tiene sonido"),
])
async def test_bad_files_never_reach_the_api(fixture: str, error: type[Exception], spanish: str,
                                             request: pytest.FixtureRequest, fake: FakeOpenAI,
                                             client: AsyncOpenAI,
                                             speech_settings: Callable[..., Settings],
                                             workdir: Path) -> None:
    path: Path = request.getfixturevalue(fixture)
    with pytest.raises(error) as refused:
        await transcribe(client, speech_settings(), path, workdir=workdir)
    assert spanish in refused.value.user_message("es")
    assert fake.requests == []
    assert list(workdir.iterdir()) == []


async def test_too_long_never_reaches_the_api(fake: FakeOpenAI, client: AsyncOpenAI,
                                              speech_settings: Callable[..., Settings],
                                              long_recording: Path, workdir: Path) -> None:
    with pytest.raises(MediaTooLong) as refused:
        await transcribe(client, speech_settings(MAX_AUDIO_MINUTES="30"), long_recording,
                         workdir=workdir)
    assert "el máximo es 30 minutos" in refused.value.user_message("es")
    assert fake.requests == []
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("fmt", ["wav", "ogg"])
async def test_a_recording_longer_than_its_header_says_stops_decoding_at_the_limit(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        lying_recording: Path, workdir: Path, fmt: str) -> None:
    assert probe(lying_recording).duration_s == 10.0  # what the header claims
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()))
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    try:
        with pytest.raises(MediaTooLong) as refused:
            await transcribe(client, speech_settings(MAX_AUDIO_MINUTES="1",
                                                     TRANSCRIBE_FORMAT=fmt),
                             lying_recording, workdir=workdir)
    finally:
        watcher.cancel()
    # Decoding stopped one second past the limit, not at the recording's three minutes.
    assert 60 < refused.value.duration_s <= 61.5
    assert "el máximo es 1 minuto" in refused.value.user_message("es")
    assert 0 < peak <= decoded_bytes_limit(61)
    assert fake.requests == []
    assert list(workdir.iterdir()) == []


async def test_default_workdir_is_removed(fake: FakeOpenAI, client: AsyncOpenAI,
                                          speech_settings: Callable[..., Settings],
                                          voice_note: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake.transcription("uno", default=True)
    real_temp = Path(tempfile.gettempdir())
    ours_before = set(real_temp.glob("kratos-*"))

    await transcribe(client, speech_settings(), voice_note)
    assert set(real_temp.glob("kratos-*")) == ours_before

    # Point the system temp directory somewhere private to see everything made there.
    private = tmp_path / "systemp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    await transcribe(client, speech_settings(), voice_note)
    fake.fail(500, endpoint="transcription")
    with pytest.raises(TranscriptionUnavailable):
        await transcribe(client, speech_settings(), voice_note)
    assert list(private.iterdir()) == []


async def test_synthesize_voice_returns_ogg_opus(fake: FakeOpenAI, client: AsyncOpenAI,
                                                 speech_settings: Callable[..., Settings]) -> None:
    voice = await synthesize_voice(client, speech_settings(), "La laptop más barata cuesta $499.")

    assert voice.startswith(b"OggS")
    seconds, stream = describe(voice)
    assert stream.startswith("opus")
    assert seconds > 0.5
    [request] = fake.requests
    assert request.path == "/v1/audio/speech"
    assert request.json == {"model": "gpt-4o-mini-tts", "voice": "alloy",
                            "input": "La laptop más barata cuesta $499.",
                            "response_format": "opus"}


async def test_synthesize_voice_failure(fake: FakeOpenAI, client: AsyncOpenAI,
                                        speech_settings: Callable[..., Settings]) -> None:
    fake.fail(503, endpoint="speech")
    with pytest.raises(SpeechUnavailable) as failed:
        await synthesize_voice(client, speech_settings(), "hola")
    assert "por escrito" in failed.value.user_message("es")


@pytest.fixture
def cli_env(fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Environment for `kratos transcribe` against the fake; returns the leading CLI args."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")
    monkeypatch.setenv("CATALOG_DB", str(tmp_path / "no-catalog.db"))
    return ["--env-file", os.devnull]


async def test_cli_prompt_names_the_catalog_brands(
    fake: FakeOpenAI, cli_env: list[str], voice_note: Path, catalog_db: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    fake.transcription("dame laptops Lenovo")
    code = await asyncio.to_thread(main, [*cli_env, "transcribe", str(voice_note)])
    assert code == 0
    prompt = fake.transcription_requests[0].form["prompt"]
    assert prompt.startswith("Productos y marcas de la tienda: ")
    assert "Electrónica" in prompt and "Samsung" in prompt
    assert capsys.readouterr().out == "dame laptops Lenovo\n"


async def test_cli_prints_the_transcript(fake: FakeOpenAI, cli_env: list[str], voice_note: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    fake.transcription("¿Tienen audífonos Sony?")
    # The CLI runs its own event loop; the fake serves from this one.
    code = await asyncio.to_thread(main, [*cli_env, "transcribe", str(voice_note)])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "¿Tienen audífonos Sony?\n"
    assert "Traceback" not in err


async def test_cli_bad_file(fake: FakeOpenAI, cli_env: list[str], garbage: Path,
                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = await asyncio.to_thread(main, [*cli_env, "transcribe", str(garbage)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("kratos: No pude leer ese audio")
    assert "Traceback" not in err

    code = await asyncio.to_thread(main, [*cli_env, "transcribe", str(tmp_path / "nope.ogg")])
    assert code == 1
    assert capsys.readouterr().err == f"kratos: No encuentro el archivo {tmp_path / 'nope.ogg'}.\n"
    assert fake.requests == []


async def test_cli_api_failure(fake: FakeOpenAI, cli_env: list[str], voice_note: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    fake.fail(500, endpoint="transcription")
    code = await asyncio.to_thread(main, [*cli_env, "transcribe", str(voice_note)])
    assert code == 1
    assert capsys.readouterr().err.endswith(
        f"kratos: No pude transcribir el audio: {fake.base_url} respondió con el error HTTP "
        "500.\n")


def test_cli_without_key(voice_note: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["--env-file", os.devnull, "transcribe", str(voice_note)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == ("kratos: falta OPENAI_API_KEY: para transcribir necesito un servicio "
                   "compatible con OpenAI (mira .env.example).\n")


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_said_plainly_in_the_log_and_briefly_to_the_customer(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        voice_note: Path, workdir: Path, caplog: pytest.LogCaptureFixture, status: int) -> None:
    fake.fail(status, endpoint="transcription")
    with caplog.at_level(logging.INFO, logger="bot.audio.speech"), \
            pytest.raises(TranscriptionRefused) as failed:
        await transcribe(client, speech_settings(), voice_note, workdir=workdir)
    assert failed.value.user_message("es") == (
        "Lo siento, ahora no puedo transcribir audios. Escríbeme tu pregunta, por favor.")
    assert "try again" not in failed.value.user_message("en")
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"transcription failed: the API key was refused (HTTP {status}) by the speech "
        "endpoint; check OPENAI_API_KEY (and OPENAI_BASE_URL)")
    assert fake.api_key not in caplog.text


async def test_a_refused_key_on_one_chunk_of_many_is_still_a_refused_key(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        long_recording: Path, workdir: Path) -> None:
    fake.transcription("bien", default=True)
    fake.fail(401, endpoint="transcription")
    with pytest.raises(TranscriptionRefused):
        await transcribe(client, speech_settings(TRANSCRIBE_CONCURRENCY="1"), long_recording,
                         workdir=workdir)
    assert list(workdir.iterdir()) == []


async def test_a_refused_key_for_spoken_replies_is_said_plainly(
        fake: FakeOpenAI, client: AsyncOpenAI, speech_settings: Callable[..., Settings],
        caplog: pytest.LogCaptureFixture) -> None:
    fake.fail(401, endpoint="speech")
    with caplog.at_level(logging.INFO, logger="bot.audio.speech"), pytest.raises(SpeechUnavailable):
        await synthesize_voice(client, speech_settings(), "Hola")
    assert ("speech synthesis failed: the API key was refused (HTTP 401) by the speech endpoint"
            in caplog.text)

"""Conversion, probing and splitting, on real audio and video made with the bundled ffmpeg."""

from __future__ import annotations

import itertools
import random
import struct
import subprocess
from pathlib import Path

import pytest

from bot.audio.conversion import (
    UPLOAD_LIMIT_BYTES,
    Chunk,
    CorruptMedia,
    EmptyMedia,
    MediaTooBig,
    MediaTooLong,
    NoAudioTrack,
    UnsupportedMedia,
    check_incoming,
    check_media,
    convert_for_transcription,
    ffmpeg_executable,
    is_ogg_opus,
    probe,
    sniff_format,
    split_for_upload,
    to_ogg_opus,
    wav_duration,
)

TONE_S = 7.0
PAUSE_S = 1.0
PATTERN_REPEATS = 8


def ffmpeg(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the bundled ffmpeg quietly; fail the test on an error."""
    return subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True, capture_output=True, timeout=300,
    )


def decoded_seconds(path: Path) -> float:
    """Duration by decoding every sample with ffmpeg (independent of bot.audio.conversion)."""
    pcm = ffmpeg("-i", str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", "16000",
                 "pipe:1").stdout
    return len(pcm) / 2 / 16000


def codec_of(path_or_bytes: Path | bytes) -> str:
    """ffmpeg's description of the first audio stream."""
    stdin = path_or_bytes if isinstance(path_or_bytes, bytes) else None
    source = "pipe:0" if stdin is not None else str(path_or_bytes)
    result = subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", source],
                            input=stdin, capture_output=True, timeout=60, check=False)
    lines = [ln for ln in result.stderr.decode().splitlines() if "Audio:" in ln]
    assert lines, result.stderr.decode()
    return lines[0].split("Audio:", 1)[1].strip()


def tone(path: Path, seconds: float, *codec: str, rate: int = 44100) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
           *codec, str(path))
    return path


def tone_with_pauses(path: Path, *codec: str) -> Path:
    """TONE_S of tone then PAUSE_S of digital silence, PATTERN_REPEATS times."""
    inputs: list[str] = []
    for _ in range(PATTERN_REPEATS):
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=16000:duration={TONE_S}",
                   "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={PAUSE_S}"]
    count = 2 * PATTERN_REPEATS
    graph = "".join(f"[{i}:a]" for i in range(count)) + f"concat=n={count}:v=0:a=1"
    ffmpeg(*inputs, "-filter_complex", graph, *codec, str(path))
    return path


def pauses() -> list[tuple[float, float]]:
    period = TONE_S + PAUSE_S
    return [(k * period + TONE_S, (k + 1) * period) for k in range(PATTERN_REPEATS)]


def wav_header(path: Path) -> dict[str, int | bytes]:
    head = path.read_bytes()[:44]
    riff, _, wave_id, fmt_id, fmt_size, audio_format, channels, rate, _, _, bits, data_id, _ = (
        struct.unpack("<4sI4s4sIHHIIHH4sI", head))
    return {"riff": riff, "wave": wave_id, "fmt": fmt_id, "fmt_size": fmt_size,
            "audio_format": audio_format, "channels": channels, "rate": rate, "bits": bits,
            "data": data_id}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def stereo_wav(media_dir: Path) -> Path:
    return tone(media_dir / "stereo.wav", 3.0, "-ac", "2")


@pytest.fixture(scope="module")
def voice_note(media_dir: Path) -> Path:
    """A 5-second Telegram-style voice note: OGG/Opus, mono, 48 kHz."""
    return tone(media_dir / "voice.oga", 5.0, "-ac", "1", "-ar", "48000", "-c:a", "libopus",
                "-b:a", "24k", "-f", "ogg")


@pytest.fixture(scope="module")
def mp3_file(media_dir: Path) -> Path:
    return tone(media_dir / "song.mp3", 4.0, "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k")


@pytest.fixture(scope="module")
def video_with_audio(media_dir: Path) -> Path:
    path = media_dir / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=6",
           "-f", "lavfi", "-i", "sine=frequency=500:duration=6",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "64k",
           "-shortest", str(path))
    return path


@pytest.fixture(scope="module")
def video_without_audio(media_dir: Path) -> Path:
    path = media_dir / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3", "-an",
           "-c:v", "libx264", "-preset", "ultrafast", str(path))
    return path


@pytest.fixture(scope="module")
def garbage(media_dir: Path) -> Path:
    path = media_dir / "garbage.ogg"
    path.write_bytes(random.Random(7).randbytes(20_000))
    return path


@pytest.fixture
def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.oga"
    path.touch()
    return path


@pytest.fixture(scope="module")
def long_voice_note(media_dir: Path) -> Path:
    """A 12-minute voice note, 8 s of tone and 2 s of silence at a time, at 6 kb/s Opus."""
    path = media_dir / "long.oga"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=250:sample_rate=16000:duration=720",
           "-af", "volume='if(lt(mod(t,10),8),1,0)':eval=frame",
           "-ac", "1", "-c:a", "libopus", "-b:a", "6k", "-compression_level", "0",
           "-frame_duration", "60", "-f", "ogg", str(path))
    return path


@pytest.fixture(scope="module")
def pattern_wav(media_dir: Path) -> Path:
    return tone_with_pauses(media_dir / "pattern.wav", "-ac", "1", "-ar", "16000")


def test_ffmpeg_executable_runs() -> None:
    result = subprocess.run([ffmpeg_executable(), "-version"], capture_output=True, timeout=30,
                            check=True)
    assert result.stdout.startswith(b"ffmpeg version")


def test_probe_reports_duration_and_audio(voice_note: Path, video_with_audio: Path,
                                          video_without_audio: Path) -> None:
    note = probe(voice_note)
    assert note.has_audio and note.duration_s == pytest.approx(5.0, abs=0.1)
    clip = probe(video_with_audio)
    assert clip.has_audio and clip.duration_s == pytest.approx(6.0, abs=0.1)
    silent = probe(video_without_audio)
    assert not silent.has_audio and silent.duration_s == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("fixture", ["stereo_wav", "voice_note", "mp3_file", "video_with_audio"])
def test_convert_makes_16k_mono_pcm_wav(fixture: str, request: pytest.FixtureRequest,
                                        tmp_path: Path) -> None:
    src: Path = request.getfixturevalue(fixture)
    out = convert_for_transcription(src, tmp_path)
    assert out.suffix == ".wav" and out.parent == tmp_path
    header = wav_header(out)
    assert header == {"riff": b"RIFF", "wave": b"WAVE", "fmt": b"fmt ", "fmt_size": 16,
                      "audio_format": 1, "channels": 1, "rate": 16000, "bits": 16,
                      "data": b"data"}
    assert wav_duration(out) == pytest.approx(decoded_seconds(src), abs=0.1)
    assert wav_duration(out) == pytest.approx(probe(src).duration_s, abs=0.1)


@pytest.mark.parametrize(("fmt", "codec"), [("mp3", "mp3"), ("flac", "flac"), ("ogg", "opus")])
def test_convert_to_other_formats(fmt: str, codec: str, voice_note: Path,
                                  tmp_path: Path) -> None:
    out = convert_for_transcription(voice_note, tmp_path, fmt)
    assert out.suffix == f".{fmt}"
    description = codec_of(out)
    assert description.startswith(codec) and "mono" in description
    if codec == "opus":
        # Opus always decodes at 48 kHz; the header keeps the rate it was made from.
        head = out.read_bytes()
        at = head.index(b"OpusHead")
        assert struct.unpack_from("<I", head, at + 12)[0] == 16000
    else:
        assert "16000 Hz" in description
    assert decoded_seconds(out) == pytest.approx(5.0, abs=0.1)


def test_convert_stops_at_max_seconds(voice_note: Path, tmp_path: Path) -> None:
    out = convert_for_transcription(voice_note, tmp_path, max_seconds=2.0)
    assert wav_duration(out) == pytest.approx(2.0, abs=0.02)


def test_small_file_is_its_own_single_chunk(voice_note: Path, tmp_path: Path) -> None:
    out = convert_for_transcription(voice_note, tmp_path)
    [chunk] = split_for_upload(out, tmp_path, "wav")
    assert (chunk.path, chunk.start_s, chunk.index) == (out, 0.0, 0)
    assert chunk.end_s == pytest.approx(5.0, abs=0.1)


def test_twelve_minute_voice_note_fits_one_upload(long_voice_note: Path, tmp_path: Path) -> None:
    info = check_media(long_voice_note, max_minutes=60)
    assert info.duration_s == pytest.approx(720, abs=0.1)
    out = convert_for_transcription(long_voice_note, tmp_path)
    assert wav_duration(out) == pytest.approx(720, abs=0.1)
    assert out.stat().st_size < UPLOAD_LIMIT_BYTES
    assert len(split_for_upload(out, tmp_path, "wav")) == 1


def test_twelve_minute_voice_note_split_at_its_pauses(long_voice_note: Path,
                                                      tmp_path: Path) -> None:
    out = convert_for_transcription(long_voice_note, tmp_path)
    chunks = split_for_upload(out, tmp_path, "wav", max_bytes=4 * 1024 * 1024)
    assert len(chunks) == 6
    assert_back_to_back(chunks, 720.0)
    for chunk in chunks[:-1]:
        # Pauses are the last 2 s of every 10 s.
        assert 8.0 < chunk.end_s % 10 < 10.0, chunk


def assert_back_to_back(chunks: list[Chunk], total_s: float) -> None:
    """Chunks in order, starting at 0, each starting where the last ended, ending at the end."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start_s == 0.0
    for before, after in itertools.pairwise(chunks):
        assert after.start_s == before.end_s
    assert chunks[-1].end_s == pytest.approx(total_s, abs=0.01)


def test_split_wav_cuts_in_pauses(pattern_wav: Path, tmp_path: Path) -> None:
    total = PATTERN_REPEATS * (TONE_S + PAUSE_S)
    out = convert_for_transcription(pattern_wav, tmp_path)
    max_bytes = 600_000  # 18.7 s of 16 kHz 16-bit mono
    chunks = split_for_upload(out, tmp_path, "wav", max_bytes=max_bytes)
    assert len(chunks) == 4
    assert_back_to_back(chunks, total)
    for chunk in chunks:
        assert chunk.path.suffix == ".wav"
        assert chunk.path.stat().st_size <= max_bytes
        assert wav_header(chunk.path)["rate"] == 16000
        assert wav_duration(chunk.path) == pytest.approx(chunk.duration_s, abs=0.001)
    assert sum(wav_duration(c.path) for c in chunks) == pytest.approx(total, abs=0.001)
    for chunk in chunks[:-1]:
        assert any(start + 0.05 <= chunk.end_s <= end - 0.05 for start, end in pauses()), chunk


def test_split_without_pauses_cuts_hard_and_keeps_everything(tmp_path: Path) -> None:
    src = tone(tmp_path / "steady.wav", 40.0, "-ac", "1", "-ar", "16000")
    chunks = split_for_upload(src, tmp_path, "wav", max_bytes=300_000)
    assert len(chunks) == 5
    assert_back_to_back(chunks, 40.0)
    # Equal shares of the recording: no sliver at the end.
    assert all(c.duration_s == pytest.approx(8.0, abs=0.01) for c in chunks)
    assert all(c.path.stat().st_size <= 300_000 for c in chunks)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "ogg"])
def test_split_compressed_formats(fmt: str, pattern_wav: Path, tmp_path: Path) -> None:
    total = PATTERN_REPEATS * (TONE_S + PAUSE_S)
    out = convert_for_transcription(pattern_wav, tmp_path, fmt)
    max_bytes = out.stat().st_size // 3
    chunks = split_for_upload(out, tmp_path, fmt, max_bytes=max_bytes)
    assert len(chunks) >= 3
    assert_back_to_back(chunks, total)
    for chunk in chunks:
        assert chunk.path.suffix == f".{fmt}"
        assert chunk.path.stat().st_size <= max_bytes
        assert decoded_seconds(chunk.path) == pytest.approx(chunk.duration_s, abs=0.06)
    assert sum(decoded_seconds(c.path) for c in chunks) == pytest.approx(total, abs=0.15)
    # Only the chunks and the converted file remain: the PCM copy used for cutting is gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [out.name] + [c.path.name for c in chunks])


def test_split_many_small_chunks_from_a_voice_note(voice_note: Path, tmp_path: Path) -> None:
    out = convert_for_transcription(voice_note, tmp_path)
    chunks = split_for_upload(out, tmp_path, "wav", max_bytes=40_000)
    assert len(chunks) == 5
    assert_back_to_back(chunks, wav_duration(out))


def test_split_refuses_a_limit_below_one_second(voice_note: Path, tmp_path: Path) -> None:
    out = convert_for_transcription(voice_note, tmp_path)
    with pytest.raises(ValueError, match="max_bytes"):
        split_for_upload(out, tmp_path, "wav", max_bytes=10_000)


def test_garbage_is_corrupt(garbage: Path, tmp_path: Path) -> None:
    with pytest.raises(CorruptMedia) as probed:
        probe(garbage)
    assert "No pude leer" in probed.value.user_message("es")
    with pytest.raises(CorruptMedia):
        convert_for_transcription(garbage, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_truncated_voice_note_is_corrupt(voice_note: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.oga"
    cut.write_bytes(voice_note.read_bytes()[:200])
    with pytest.raises(CorruptMedia):
        check_media(cut, max_minutes=60)


def test_empty_file(empty_file: Path, tmp_path: Path) -> None:
    with pytest.raises(EmptyMedia) as probed:
        probe(empty_file)
    assert "vacío" in probed.value.user_message("es")
    assert "empty" in probed.value.user_message("en")
    with pytest.raises(EmptyMedia):
        convert_for_transcription(empty_file, tmp_path)


def test_too_short_to_transcribe(tmp_path: Path) -> None:
    blip = tone(tmp_path / "blip.wav", 0.05)
    with pytest.raises(EmptyMedia):
        convert_for_transcription(blip, tmp_path)


def test_video_without_audio(video_without_audio: Path) -> None:
    with pytest.raises(NoAudioTrack) as refused:
        check_media(video_without_audio, max_minutes=60)
    assert "no tiene sonido" in refused.value.user_message("es")


def test_video_with_audio_passes(video_with_audio: Path) -> None:
    assert check_media(video_with_audio, max_minutes=1).has_audio


def test_too_long_says_the_limit(long_voice_note: Path) -> None:
    with pytest.raises(MediaTooLong) as refused:
        check_media(long_voice_note, max_minutes=10)
    assert "el máximo es 10 minutos" in refused.value.user_message("es")
    assert "12 minutos" in refused.value.user_message("es")
    assert "10 minutes" in str(refused.value)


def test_too_big_says_the_limit_in_mb() -> None:
    with pytest.raises(MediaTooBig) as refused:
        check_incoming(size=31_500_000, limit_bytes=20 * 1024 * 1024, mime_type="audio/ogg")
    assert "20 MB" in refused.value.user_message("es")
    assert "30,0 MB" in refused.value.user_message("es")
    assert "30.0 MB" in refused.value.user_message("en")


@pytest.mark.parametrize(("mime", "name"), [
    ("application/pdf", "catalogo.pdf"),
    ("image/jpeg", None),
    ("application/octet-stream", "lista.xlsx"),
    (None, "notas.txt"),
])
def test_unsupported_types(mime: str | None, name: str | None) -> None:
    with pytest.raises(UnsupportedMedia) as refused:
        check_incoming(size=1000, limit_bytes=20 * 1024 * 1024, mime_type=mime, file_name=name)
    assert "no es de audio ni de video" in refused.value.user_message("es")


@pytest.mark.parametrize(("mime", "name"), [
    ("audio/ogg", None),
    ("video/mp4", "clip.mp4"),
    ("application/ogg", None),
    ("application/octet-stream", "nota.M4A"),
    ("text/plain", "grabacion.mp3"),
    (None, None),
])
def test_supported_types(mime: str | None, name: str | None) -> None:
    check_incoming(size=1000, limit_bytes=20 * 1024 * 1024, mime_type=mime, file_name=name)


def test_empty_download_is_refused_before_fetching() -> None:
    with pytest.raises(EmptyMedia):
        check_incoming(size=0, limit_bytes=1024, mime_type="audio/ogg")


@pytest.mark.parametrize(("fmt", "args"), [
    ("mp3", ("-c:a", "libmp3lame", "-f", "mp3")),
    ("wav", ("-c:a", "pcm_s16le", "-f", "wav")),
    ("flac", ("-c:a", "flac", "-f", "flac")),
    ("aac", ("-c:a", "aac", "-f", "adts")),
    ("pcm", ("-c:a", "pcm_s16le", "-f", "s16le")),
])
def test_to_ogg_opus(fmt: str, args: tuple[str, ...]) -> None:
    source = ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=24000:duration=2",
                    "-ac", "1", *args, "pipe:1").stdout
    if fmt != "pcm":
        assert sniff_format(source) == fmt
    voice = to_ogg_opus(source, fmt)
    assert voice.startswith(b"OggS") and is_ogg_opus(voice)
    description = codec_of(voice)
    assert description.startswith("opus") and "mono" in description
    decoded = subprocess.run(
        [ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-f", "ogg", "-i", "pipe:0",
         "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"],
        input=voice, capture_output=True, timeout=60, check=True).stdout
    assert len(decoded) / 32000 == pytest.approx(2.0, abs=0.1)


def test_to_ogg_opus_refuses_garbage() -> None:
    with pytest.raises(CorruptMedia):
        to_ogg_opus(random.Random(3).randbytes(4000), "mp3")
    with pytest.raises(EmptyMedia):
        to_ogg_opus(b"", "mp3")

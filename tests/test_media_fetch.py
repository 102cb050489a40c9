"""Links to recordings: fetched from a real local HTTP server, refused before any request when
they point inside the network, limited while streaming; and ``kratos transcribe URL``."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.audio.conversion import MediaTooBig, MediaTooLong, ffmpeg_executable
from bot.audio.media_fetch import (
    FetchFailed,
    FetchLimits,
    FetchTimedOut,
    ForbiddenAddress,
    NotHttpLink,
    NotMedia,
    address_allowed,
    check_link,
    fetch_media,
)
from tests.fakes.media_server import MediaServer
from tests.fakes.openai_server import FakeOpenAI

OPEN = FetchLimits(max_bytes=2 * 1024 * 1024, max_minutes=1, timeout_s=10, allow_private=True)
CLOSED = FetchLimits(max_bytes=2 * 1024 * 1024, max_minutes=1, timeout_s=10)


def mp3(seconds: int, bitrate: str = "32k") -> bytes:
    """A tone of ``seconds`` as CBR MP3, made with the bundled ffmpeg."""
    return subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", f"sine=frequency=330:sample_rate=16000:duration={seconds}", "-ac", "1",
         "-c:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3", "pipe:1"],
        check=True, capture_output=True, timeout=60).stdout


@pytest.fixture(scope="module")
def clip() -> bytes:
    return mp3(4)


@pytest.fixture(scope="module")
def three_minutes() -> bytes:
    return mp3(180)


@pytest.fixture
async def media(clip: bytes, three_minutes: bytes) -> AsyncIterator[MediaServer]:
    async with MediaServer() as server:
        server.add_file("clip.mp3", clip, "audio/mpeg")
        server.add_file("download", clip, "application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="reunión.mp3"'})
        server.add_redirect("go", "/clip.mp3")
        server.add_redirect("hop1", "/hop2", status=301)
        server.add_redirect("hop2", server.url("go"), status=307)
        for index in range(7):
            server.add_redirect(f"loop{index}", f"/loop{index + 1}")
        server.add_page("page", "<html><body>Nuestro podcast</body></html>")
        server.add_file("notes.pdf", b"%PDF-1.4 ...", "application/pdf")
        server.add_file("big.mp3", b"\xff\xfb" * 1_500_000, "audio/mpeg")
        server.add_file("stream.mp3", three_minutes * 8, "audio/mpeg", declare_length=False,
                        pause=0.001)
        server.add_file("long.mp3", three_minutes, "audio/mpeg", declare_length=False,
                        chunk=8 * 1024, pause=0.002)
        server.add_slow("slow.mp3", 5)
        server.add_redirect("to-metadata", "http://169.254.169.254/latest/meta-data/")
        server.add_redirect("to-private", "http://10.1.2.3/clip.mp3")
        server.add_redirect("to-file", "file:///etc/passwd")
        yield server


async def test_a_direct_mp3_is_fetched(media: MediaServer, clip: bytes, tmp_path: Path) -> None:
    fetched = await fetch_media(media.url("clip.mp3"), tmp_path, OPEN)
    assert fetched.path.read_bytes() == clip
    assert (fetched.file_name, fetched.content_type, fetched.size) == (
        "clip.mp3", "audio/mpeg", len(clip))
    assert media.served["clip.mp3"].completed


async def test_redirects_are_followed_and_the_server_name_kept(
        media: MediaServer, clip: bytes, tmp_path: Path) -> None:
    assert (await fetch_media(media.url("hop1"), tmp_path, OPEN)).path.read_bytes() == clip
    assert [media.served[p].requests for p in ("hop1", "hop2", "go", "clip.mp3")] == [1, 1, 1, 1]
    named = await fetch_media(media.url("download"), tmp_path, OPEN)
    assert named.file_name == "reunión.mp3"


@pytest.mark.parametrize(("path", "error"), [
    ("page", NotMedia), ("notes.pdf", NotMedia), ("loop0", FetchFailed),
    ("missing.mp3", FetchFailed), ("to-metadata", ForbiddenAddress),
    ("to-private", ForbiddenAddress), ("to-file", NotHttpLink),
])
async def test_what_cannot_be_used_is_refused_with_a_sentence(
        path: str, error: type[Exception], media: MediaServer, tmp_path: Path) -> None:
    # Even with private addresses allowed (to reach this server), link-local metadata is not,
    # and the private target of a redirect is checked like the first link would be.
    limits = OPEN if path != "to-private" else FetchLimits(
        OPEN.max_bytes, OPEN.max_minutes, OPEN.timeout_s, allow_private=False)
    if path == "to-private":
        with pytest.raises(ForbiddenAddress):
            await fetch_media(media.url(path), tmp_path, limits)
        assert media.total_requests == 0  # the first hop is refused already
        return
    with pytest.raises(error) as refused:
        await fetch_media(media.url(path), tmp_path, limits)
    assert refused.value.user_message("es")
    assert list(tmp_path.iterdir()) == []  # a page's body is never written


async def test_a_page_is_not_read_past_its_headers(media: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(NotMedia) as refused:
        await fetch_media(media.url("page"), tmp_path, OPEN)
    assert refused.value.user_message("es").startswith(
        "Ese enlace abre una página, no un audio ni un video.")


async def test_a_declared_size_over_the_limit_is_refused_before_the_body(
        media: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(MediaTooBig):
        await fetch_media(media.url("big.mp3"), tmp_path, OPEN)
    assert list(tmp_path.iterdir()) == []  # not one byte of the body was written


async def test_an_undeclared_size_is_cut_while_streaming(
        media: MediaServer, three_minutes: bytes, tmp_path: Path) -> None:
    limits = FetchLimits(max_bytes=1024 * 1024, max_minutes=60, timeout_s=10,
                         allow_private=True)
    with pytest.raises(MediaTooBig):
        await fetch_media(media.url("stream.mp3"), tmp_path, limits)
    served = media.served["stream.mp3"]
    assert not served.completed
    assert served.bytes_sent < len(three_minutes) * 8


async def test_a_recording_too_long_is_cut_while_streaming(
        media: MediaServer, three_minutes: bytes, tmp_path: Path) -> None:
    # 3 minutes of 32 kb/s MP3 (720 kB) against a 1-minute limit and a 2 MB size limit.
    with pytest.raises(MediaTooLong):
        await fetch_media(media.url("long.mp3"), tmp_path, OPEN)
    served = media.served["long.mp3"]
    assert not served.completed
    assert served.bytes_sent < len(three_minutes) * 0.9


async def test_the_whole_fetch_has_a_time_limit(media: MediaServer, tmp_path: Path) -> None:
    limits = FetchLimits(OPEN.max_bytes, OPEN.max_minutes, timeout_s=0.5, allow_private=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchTimedOut):
        await fetch_media(media.url("slow.mp3"), tmp_path, limits)
    assert loop.time() - started < 2


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f.1", "127.1", "0177.0.0.1",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0", "10.0.0.7", "192.168.1.10",
    "172.16.5.4", "169.254.169.254", "[fe80::1]", "[fd00:ec2::254]", "[fc00::1]",
    "100.64.0.1", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]",
])
async def test_internal_addresses_are_refused_before_any_request(
        host: str, media: MediaServer, tmp_path: Path) -> None:
    url = f"http://{host}:{media.port}/clip.mp3"
    with pytest.raises(ForbiddenAddress):
        await fetch_media(url, tmp_path, CLOSED)
    assert media.total_requests == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.mp3",
                                 "gopher://127.0.0.1/", "http:///nohost", "javascript:alert(1)"])
async def test_only_http_links_are_opened(url: str) -> None:
    with pytest.raises(NotHttpLink):
        await check_link(url)


@pytest.mark.parametrize(("address", "public", "private_ok"), [
    ("8.8.8.8", True, True), ("2001:4860:4860::8888", True, True),
    ("127.0.0.1", False, True), ("::1", False, True), ("10.0.0.1", False, True),
    ("169.254.169.254", False, False), ("fe80::1", False, False),
    ("fd00:ec2::254", False, False), ("100.100.100.200", False, False),
    ("::ffff:169.254.169.254", False, False), ("::ffff:8.8.8.8", True, True),
    # Teredo: judged by the client inside, here 192.0.2.45 (documentation, never routed).
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, True),
    ("224.0.0.1", False, False), ("0.0.0.0", False, False),
])
def test_address_rules(address: str, public: bool, private_ok: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert address_allowed(ip) is public
    assert address_allowed(ip, allow_private=True) is private_ok


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def test_kratos_transcribe_takes_a_url(
    fake: FakeOpenAI, media: MediaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in (("OPENAI_BASE_URL", fake.base_url), ("OPENAI_API_KEY", fake.api_key),
                        ("OPENAI_MAX_RETRIES", "0"),
                        ("CATALOG_DB", str(tmp_path / "no-catalog.db"))):
        monkeypatch.setenv(name, value)
    cli = ["--env-file", os.devnull, "transcribe"]
    fake.transcription("En la reunión hablamos de monitores.")

    monkeypatch.setenv("MEDIA_URL_ALLOW_PRIVATE", "on")
    code = await asyncio.to_thread(main, [*cli, media.url("go")])
    out, err = capsys.readouterr()
    assert (code, out) == (0, "En la reunión hablamos de monitores.\n")
    assert "Traceback" not in err

    code = await asyncio.to_thread(main, [*cli, media.url("page")])
    assert code == 1
    assert "Ese enlace abre una página, no un audio ni un video." in capsys.readouterr().err

    monkeypatch.setenv("MEDIA_URL_ALLOW_PRIVATE", "off")
    requests = media.total_requests
    code = await asyncio.to_thread(main, [*cli, media.url("clip.mp3")])
    assert code == 1
    assert "apunta a una dirección interna" in capsys.readouterr().err
    assert media.total_requests == requests
    assert len(fake.transcription_requests) == 1

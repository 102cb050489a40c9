"""Voice notes, audio and video through Telegram, end to end: the real PTB Application against
the fake Bot API, the real AsyncOpenAI client against the fake OpenAI API, real SQLite, and real
audio made with the bundled ffmpeg."""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.audio.conversion import ffmpeg_executable
from bot.catalog.money import format_soles
from bot.channels.telegram.voice import spoken_duration
from bot.core.prompt import SPEECH_PROMPT_MAX_CHARS
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import (
    GROUP,
    MOST_EXPENSIVE,
    TOKEN,
    RunningBot,
    catalog_value,
    model_settings,
    reply_target,
    state_rows,
)

MOST_EXPENSIVE_SQL = "SELECT name, price FROM products ORDER BY price DESC LIMIT 1"
MEETING = ("En la reunión hablamos de la laptop Lenovo IdeaPad 3 y de los monitores LG; "
           "el cliente pidió precios por mayor.")
STREAM = re.compile(r"Audio: (\w+), (\d+) Hz, (mono|stereo)")


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; fail the test on an error."""
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    *args], check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Heard:
    """What ffmpeg says an uploaded file is: codec, sample rate, channels and seconds."""

    codec: str
    rate: int
    channels: str
    seconds: float


def describe(data: bytes) -> Heard:
    """Decode uploaded bytes with ffmpeg at their own rate and channels."""
    result = subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", "pipe:0",
         "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1"],
        input=data, capture_output=True, timeout=60, check=True,
    )
    match = STREAM.search(result.stderr.decode(errors="replace"))
    assert match, result.stderr.decode(errors="replace")
    codec, rate, channels = match.group(1), int(match.group(2)), match.group(3)
    per_second = rate * 2 * (1 if channels == "mono" else 2)
    return Heard(codec, rate, channels, len(result.stdout) / per_second)


@dataclass(frozen=True)
class Media:
    voice: Path  # 3 s OGG/Opus voice note
    clip: Path  # 4 s mp3
    seventy: Path  # 70 s mp3
    ten_minutes: Path  # 600 s mp3
    video_note: Path  # 2 s mp4 with sound
    silent_video: Path  # 2 s mp4 without a sound track


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("voice_media")
    made = Media(*(folder / name for name in (
        "voice.oga", "clip.mp3", "seventy.mp3", "ten.mp3", "note.mp4", "silent.mp4")))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3", "-ac", "1",
           "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", str(made.voice))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=16000:duration=4", "-ac", "1",
           "-c:a", "libmp3lame", "-b:a", "32k", str(made.clip))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=8000:duration=70", "-ac", "1",
           "-c:a", "libmp3lame", "-b:a", "8k", str(made.seventy))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=8000:duration=600", "-ac", "1",
           "-c:a", "libmp3lame", "-b:a", "8k", str(made.ten_minutes))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=240x240:rate=10:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=44100:duration=2",
           "-c:v", "mpeg4", "-c:a", "aac", "-shortest", "-f", "mp4", str(made.video_note))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=2", "-c:v", "mpeg4",
           "-an", "-f", "mp4", str(made.silent_video))
    return made


@pytest.fixture(autouse=True)
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's temporary directory for this test, so leftovers can be counted."""
    root = tmp_path / "system-tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("kratos"))


StartBot = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
def start_bot(make_settings: Callable[..., Settings], catalog_db: Path, telegram: FakeTelegram,
              openai: FakeOpenAI, running_bots: list[RunningBot]) -> StartBot:
    """Start the bot as ``kratos run`` does, with the model (and speech) unless model=False."""

    async def start(*, model: bool = True, **overrides: str) -> RunningBot:
        values = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": telegram.root,
                  **(model_settings(openai) if model else {}), **overrides}
        bot = await RunningBot.launch(make_settings(**values))
        running_bots.append(bot)
        return bot

    return start


def heard_by(record: list[tuple[Heard, dict[str, str], list[str]]], text: str,
             root: Path) -> Callable[[RecordedRequest], Awaitable[str]]:
    """A transcription endpoint answering ``text`` that notes what it was sent, and the
    temporary directories alive at that moment."""

    async def hear(request: RecordedRequest) -> str:
        assert request.file is not None
        heard = await asyncio.to_thread(describe, request.file.data)
        record.append((heard, dict(request.form), leftovers(root)))
        return text

    return hear


def spoken(openai: FakeOpenAI) -> list[str]:
    return [r.json["input"] for r in openai.requests
            if r.path == "/v1/audio/speech" and r.json is not None]


async def test_a_voice_note_is_shown_as_heard_then_answered_and_remembered(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, catalog_db: Path,
    media: Media, temp_root: Path,
) -> None:
    name, price = catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC"
                                " LIMIT 1"), catalog_value(catalog_db, "SELECT max(price) FROM"
                                                           " products")
    top_brand = catalog_value(catalog_db, "SELECT brand FROM products GROUP BY brand"
                              " ORDER BY count(*) DESC LIMIT 1")
    family = catalog_value(catalog_db, "SELECT family FROM products ORDER BY family LIMIT 1")
    record: list[tuple[Heard, dict[str, str], list[str]]] = []
    openai.transcription(heard_by(record, MOST_EXPENSIVE, temp_root))
    openai.tool_call("run_sql", {"query": MOST_EXPENSIVE_SQL})
    answer = f"El producto más caro es {name}, a {format_soles(price)}."
    openai.reply(answer)
    openai.reply("Con gusto.")
    bot = await start_bot()

    voice = telegram.push_media(3001, 3001, "voice", media.voice.read_bytes(), duration=3)
    telegram.push_text(3001, 3001, "gracias")  # typed while the note is transcribed: waits
    echo, answered, thanks = await telegram.wait_for_messages(3, chat_id=3001)

    assert echo.plain == f"🎤 «{MOST_EXPENSIVE}»"
    assert answered.plain == answer
    assert thanks.plain == "Con gusto."
    [(heard, form, alive)] = record
    assert (heard.codec, heard.rate, heard.channels) == ("pcm_s16le", 16000, "mono")
    assert heard.seconds == pytest.approx(3.0, abs=0.1)
    assert form["model"] == "whisper-1" and form["language"] == "es"
    assert top_brand in form["prompt"] and family in form["prompt"]
    assert len(form["prompt"]) <= SPEECH_PROMPT_MAX_CHARS
    assert len(alive) == 1 and alive[0].startswith("kratos-telegram-")  # worked in a temp dir
    assert leftovers(temp_root) == []  # and removed it
    # The engine was asked the transcribed question, and memory keeps it.
    assert openai.chat_requests[0]["messages"][-1] == {"role": "user", "content": MOST_EXPENSIVE}
    assert state_rows(bot.settings, "SELECT role, content FROM messages WHERE conversation ="
                      " 'u:3001' ORDER BY id") == [("user", MOST_EXPENSIVE), ("assistant", answer),
                                                   ("user", "gracias"),
                                                   ("assistant", "Con gusto.")]
    [get_file] = telegram.calls_to("getFile")
    assert get_file.params["file_id"] == voice["message"]["voice"]["file_id"]
    assert telegram.calls_to("sendChatAction")[0].params["action"] == "typing"
    assert telegram.uploads == []  # VOICE_REPLIES is off by default


async def test_a_round_video_note_is_a_question_too(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
    temp_root: Path,
) -> None:
    record: list[tuple[Heard, dict[str, str], list[str]]] = []
    openai.transcription(heard_by(record, "¿tienen monitores?", temp_root))
    openai.responder(lambda body: "Sí, tenemos monitores.")
    await start_bot()

    telegram.push_media(3101, 3101, "video_note", media.video_note.read_bytes(), duration=2)
    echo, answered = await telegram.wait_for_messages(2, chat_id=3101)

    assert echo.plain == "🎤 «¿tienen monitores?»"
    assert answered.plain == "Sí, tenemos monitores."
    [(heard, _, _)] = record
    assert (heard.rate, heard.channels) == (16000, "mono")
    assert heard.seconds == pytest.approx(2.0, abs=0.15)
    assert leftovers(temp_root) == []


async def test_in_groups_reply_mode_takes_only_voice_notes_replying_to_the_bot(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
) -> None:
    openai.transcription(MOST_EXPENSIVE, default=True)
    openai.responder(lambda body: "Respuesta.")
    await start_bot()  # GROUP_VOICE_MODE=reply is the default
    note = media.voice.read_bytes()

    ignored = telegram.push_media(GROUP, 3201, "voice", note, chat_type="supergroup")
    telegram.push_text(GROUP, 3201, f"@{telegram.username} hola", chat_type="supergroup")
    [first] = await telegram.wait_for_messages(1, chat_id=GROUP)
    replying = telegram.push_media(GROUP, 3201, "voice", note, chat_type="supergroup",
                                   reply_to_message=first.message)
    sent = await telegram.wait_for_messages(3, chat_id=GROUP)
    await asyncio.sleep(0.3)  # time for a wrongly accepted note to show up

    assert [m.plain for m in telegram.sent_messages(GROUP)] == [
        "Respuesta.", f"🎤 «{MOST_EXPENSIVE}»", "Respuesta."]
    # Both replies quote the voice note they answer.
    assert reply_target(sent[1]) == reply_target(sent[2]) == replying["message"]["message_id"]
    assert len(openai.transcription_requests) == 1
    assert [c.params["file_id"] for c in telegram.calls_to("getFile")] == [
        replying["message"]["voice"]["file_id"]]
    assert ignored["message"]["voice"]["file_id"] not in str(telegram.downloads)

    # Audio files follow the rules for text: a caption mentioning the bot addresses it.
    telegram.push_media(GROUP, 3202, "audio", media.clip.read_bytes(), chat_type="supergroup",
                        mime_type="audio/mpeg", file_name="charla.mp3", duration=4)
    shared = telegram.push_media(GROUP, 3202, "audio", media.clip.read_bytes(),
                                 chat_type="supergroup", mime_type="audio/mpeg",
                                 file_name="reunion.mp3", duration=4,
                                 caption=f"@{telegram.username} transcribe esto")
    [*_, transcript] = await telegram.wait_for_messages(4, chat_id=GROUP)
    await asyncio.sleep(0.3)

    assert transcript.plain.startswith("📝 Transcripción de «reunion.mp3»")
    assert reply_target(transcript) == shared["message"]["message_id"]
    assert len(telegram.sent_messages(GROUP)) == 4
    assert len(openai.transcription_requests) == 2


@pytest.mark.parametrize("mode", ["all", "off"])
async def test_group_voice_mode_all_takes_every_note_and_off_none(
    mode: str, start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
) -> None:
    openai.transcription(MOST_EXPENSIVE, default=True)
    openai.responder(lambda body: "Respuesta.")
    await start_bot(GROUP_VOICE_MODE=mode)
    telegram.push_text(GROUP, 3301, f"@{telegram.username} hola", chat_type="supergroup")
    [first] = await telegram.wait_for_messages(1, chat_id=GROUP)

    telegram.push_media(GROUP, 3301, "voice", media.voice.read_bytes(), chat_type="supergroup",
                        reply_to_message=first.message if mode == "off" else None)
    telegram.push_media(GROUP, 3302, "document", b"%PDF-1.4 lista de precios",
                        chat_type="supergroup", mime_type="application/pdf",
                        file_name="precios.pdf")  # group chatter, not for the bot
    telegram.push_media(3303, 3303, "voice", media.voice.read_bytes())  # private: always
    await telegram.wait_for_messages(2, chat_id=3303)
    if mode == "all":
        await telegram.wait_for_messages(3, chat_id=GROUP)
    await asyncio.sleep(0.3)

    group = [m.plain for m in telegram.sent_messages(GROUP)]
    if mode == "all":
        assert group == ["Respuesta.", f"🎤 «{MOST_EXPENSIVE}»", "Respuesta."]
    else:
        assert group == ["Respuesta."]
    assert len(openai.transcription_requests) == (2 if mode == "all" else 1)
    assert len(telegram.calls_to("getFile")) == len(openai.transcription_requests)  # no PDF


async def test_an_audio_file_becomes_the_conversations_transcript_until_reset(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
    temp_root: Path,
) -> None:
    record: list[tuple[Heard, dict[str, str], list[str]]] = []
    openai.transcription(heard_by(record, MEETING, temp_root))
    openai.responder(lambda body: "Se mencionó la laptop Lenovo IdeaPad 3.")
    bot = await start_bot()

    telegram.push_media(3401, 3401, "audio", media.clip.read_bytes(), mime_type="audio/mpeg",
                        file_name="reunion.mp3", duration=4)
    [shared] = await telegram.wait_for_messages(1, chat_id=3401)

    assert shared.plain.startswith("📝 Transcripción de «reunion.mp3» (4 s):\n\n" + MEETING)
    assert "Ya puedes preguntarme sobre esta grabación" in shared.plain
    [(heard, _, _)] = record
    assert (heard.rate, heard.channels) == (16000, "mono")
    assert heard.seconds == pytest.approx(4.0, abs=0.15)
    assert state_rows(bot.settings, "SELECT source_name, content FROM transcripts"
                      " WHERE conversation = 'u:3401'") == [("reunion.mp3", MEETING)]
    assert state_rows(bot.settings, "SELECT count(*) FROM messages") == [(0,)]

    telegram.push_text(3401, 3401, "¿qué laptop se mencionó?")
    await telegram.wait_for_messages(2, chat_id=3401)
    context = openai.chat_requests[-1]["messages"][1]["content"]  # after the system prompt
    assert MEETING in context and "reunion.mp3" in context

    telegram.push_text(3401, 3401, "/reset")
    telegram.push_text(3401, 3401, "¿qué laptop se mencionó?")
    await telegram.wait_for_messages(4, chat_id=3401)
    assert all(MEETING not in message["content"]
               for message in openai.chat_requests[-1]["messages"])
    assert state_rows(bot.settings, "SELECT count(*) FROM transcripts") == [(0,)]
    assert leftovers(temp_root) == []


async def test_a_long_transcript_arrives_as_a_text_file(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
    temp_root: Path,
) -> None:
    long_text = " ".join(f"Punto {n}: revisamos laptops, monitores y precios." for n in range(400))
    openai.transcription(long_text)
    bot = await start_bot()

    # Sent "as a file": a document, recognised by its MIME type.
    telegram.push_media(3501, 3501, "document", media.clip.read_bytes(), mime_type="audio/mpeg",
                        file_name="Reunión de ventas.mp3")
    await telegram.wait_for_calls("sendDocument")

    [upload] = telegram.uploads
    assert upload.method == "sendDocument" and upload.chat_id == 3501
    assert upload.data.decode("utf-8") == long_text
    assert upload.filename is not None and upload.filename.endswith(".txt")
    caption = upload.params["caption"]
    assert caption.startswith("📝 Te envío la transcripción de «Reunión de ventas.mp3» (4 s)")
    assert "Ya puedes preguntarme sobre esta grabación" in caption
    assert "primeros" in caption  # the model reads only the start of something this long
    assert telegram.sent_messages(3501) == []
    assert state_rows(bot.settings, "SELECT content FROM transcripts") == [(long_text,)]
    assert leftovers(temp_root) == []


async def test_each_unusable_file_gets_its_own_kind_message_and_the_bot_goes_on(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
    temp_root: Path,
) -> None:
    openai.fail(500, endpoint="transcription")
    openai.responder(lambda body: "Tenemos varias laptops.")
    await start_bot(MAX_AUDIO_MINUTES="1")
    too_long = ("El audio dura unos 2 minutos y el máximo es 1 minuto. ¿Puedes enviar uno más "
                "corto?")
    expected = {
        3601: ("El archivo pesa 21,0 MB y el máximo que puedo descargar es 20 MB. ¿Puedes enviar"
               " uno más pequeño o más corto?"),
        3602: too_long,  # Telegram says 70 s: refused before downloading
        3603: too_long,  # a document says nothing: refused once ffmpeg reads it
        3604: ("No pude leer ese audio; puede estar dañado. ¿Puedes enviarlo de nuevo o en otro "
               "formato?"),
        3605: "El audio llegó vacío o es demasiado corto. ¿Puedes enviarlo de nuevo?",
        3606: "Ese video no tiene sonido, así que no hay nada que transcribir.",
        3607: ("Ese archivo no es de audio ni de video. Envíame una nota de voz, un audio o un "
               "video."),
        3608: "No pude transcribir el audio ahora, intenta de nuevo en un momento.",
    }
    telegram.push_media(3601, 3601, "voice", None, file_size=21 * 1024 * 1024, duration=30)
    telegram.push_media(3602, 3602, "audio", media.seventy.read_bytes(), mime_type="audio/mpeg",
                        file_name="largo.mp3", duration=70)
    late = telegram.push_media(3603, 3603, "document", media.seventy.read_bytes(),
                               mime_type="audio/mpeg", file_name="largo.mp3")
    telegram.push_media(3604, 3604, "voice", bytes(range(256)) * 40, duration=3)
    telegram.push_media(3605, 3605, "document", b"", declare_size=False,
                        mime_type="audio/ogg", file_name="vacio.ogg")
    telegram.push_media(3606, 3606, "video", media.silent_video.read_bytes(),
                        mime_type="video/mp4", duration=2)
    telegram.push_media(3607, 3607, "document", b"%PDF-1.4", mime_type="application/pdf",
                        file_name="catalogo.pdf")
    telegram.push_media(3608, 3608, "voice", media.voice.read_bytes(), duration=3)

    for user, text in expected.items():
        [message] = await telegram.wait_for_messages(1, chat_id=user)
        assert message.plain == text, user

    # Refused from what Telegram said: never fetched.
    fetched = {c.params["file_id"] for c in telegram.calls_to("getFile")}
    assert len(fetched) == 5 and late["message"]["document"]["file_id"] in fetched
    assert len(openai.transcription_requests) == 1
    assert leftovers(temp_root) == []
    # Everyone is still served.
    telegram.push_text(3604, 3604, "¿tienen laptops?")
    telegram.push_media(3608, 3608, "voice", media.voice.read_bytes(), duration=3)
    openai.transcription("¿tienen laptops?")
    [_, answered] = await telegram.wait_for_messages(2, chat_id=3604)
    assert answered.plain == "Tenemos varias laptops."
    [*_, echo, again] = await telegram.wait_for_messages(3, chat_id=3608)
    assert (echo.plain, again.plain) == ("🎤 «¿tienen laptops?»", "Tenemos varias laptops.")


async def test_without_a_model_key_voice_gets_a_kind_explanation(
    start_bot: StartBot, telegram: FakeTelegram, media: Media,
) -> None:
    await start_bot(model=False)

    telegram.push_media(3701, 3701, "voice", media.voice.read_bytes(), duration=3)
    telegram.push_media(3702, 3702, "audio", media.clip.read_bytes(), mime_type="audio/mpeg",
                        file_name="reunion.mp3", duration=4, language_code="en")
    [note] = await telegram.wait_for_messages(1, chat_id=3701)
    [audio] = await telegram.wait_for_messages(1, chat_id=3702)

    assert note.plain.startswith("Para entender notas de voz y audios necesito el servicio de "
                                 "voz")
    assert audio.plain.startswith("To understand voice notes and audio I need the speech "
                                  "service")
    assert telegram.calls_to("getFile") == []
    telegram.push_text(3701, 3701, MOST_EXPENSIVE)  # basic mode still answers text
    [_, answered] = await telegram.wait_for_messages(2, chat_id=3701)
    assert "S/" in answered.plain


async def test_voice_replies_send_short_answers_as_a_voice_note_too(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
) -> None:
    openai.transcription("¿tienen laptops?")
    openai.responder(lambda body: "Sí, tenemos **varias** laptops.")
    await start_bot(VOICE_REPLIES="on")

    telegram.push_media(3801, 3801, "voice", media.voice.read_bytes(), duration=3)
    [voice] = await telegram.wait_for_calls("sendVoice")

    assert voice.status == 200
    [upload] = telegram.uploads
    assert upload.method == "sendVoice" and upload.chat_id == 3801
    assert upload.data.startswith(b"OggS") and b"OpusHead" in upload.data[:128]
    assert spoken(openai) == ["Sí, tenemos varias laptops."]  # markup is not read aloud
    assert [m.plain for m in telegram.sent_messages(3801)] == [
        "🎤 «¿tienen laptops?»", "Sí, tenemos varias laptops."]
    actions = [c.params["action"] for c in telegram.calls_to("sendChatAction")]
    assert "record_voice" in actions
    assert telegram.calls.index(telegram.calls_to("sendMessage")[-1]) < telegram.calls.index(voice)


async def test_a_local_bot_api_server_lifts_the_download_limit(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
    tmp_path: Path, temp_root: Path,
) -> None:
    telegram.local_dir = tmp_path / "bot-api"
    openai.transcription(MEETING)
    await start_bot(TELEGRAM_LOCAL_MODE="on")

    # 25 MB is over the cloud Bot API's 20 MB but fine for a local server.
    telegram.push_media(3901, 3901, "audio", media.clip.read_bytes(), mime_type="audio/mpeg",
                        file_name="reunion.mp3", duration=4, file_size=25 * 1024 * 1024)
    [shared] = await telegram.wait_for_messages(1, chat_id=3901)

    assert MEETING in shared.plain
    assert telegram.downloads == []  # read from the server's disk, not over HTTP
    assert len(list(telegram.local_dir.rglob("*.mp3"))) == 1  # and left where it was
    assert leftovers(temp_root) == []


async def test_text_questions_stay_fast_while_a_long_recording_converts(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
) -> None:
    loop = asyncio.get_running_loop()
    answered_first: list[bool] = []
    reached_api: list[float] = []

    def note_order(request: RecordedRequest) -> str:
        reached_api.append(loop.time())
        answered_first.append(bool(telegram.sent_messages(4002)))
        return MEETING

    openai.transcription(note_order)
    openai.responder(lambda body: "Sí, tenemos monitores.")
    # MP3 uploads: encoding ten minutes takes about a second, and the upload is small, so
    # nearly all of the wait is conversion.
    await start_bot(TRANSCRIBE_FORMAT="mp3")

    telegram.push_media(4001, 4001, "audio", media.ten_minutes.read_bytes(),
                        mime_type="audio/mpeg", file_name="reunion-larga.mp3", duration=600)
    async with asyncio.timeout(10):
        while not telegram.downloads:
            await asyncio.sleep(0.01)
    downloaded = loop.time()
    telegram.push_text(4002, 4002, "¿tienen monitores?")
    longest_stall = 0.0
    while not reached_api:
        tick = loop.time()
        await asyncio.sleep(0.01)
        longest_stall = max(longest_stall, loop.time() - tick - 0.01)
    [working, shared] = await telegram.wait_for_messages(2, chat_id=4001, timeout=30)

    assert working.plain.startswith("⏳ Estoy transcribiendo 10 min de audio")
    assert MEETING in shared.plain and "(10 min)" in shared.plain
    # The other user's question was answered before the recording even reached the API...
    assert answered_first == [True]
    answer = telegram.sent_messages(4002)[0]
    assert answer.plain == "Sí, tenemos monitores."
    assert answer.message_id < shared.message_id
    # ...and the event loop never stood still for a large part of the conversion.
    assert longest_stall < (reached_api[0] - downloaded) / 3


def test_spoken_durations_read_naturally() -> None:
    assert [spoken_duration(s) for s in (0.4, 45, 60, 200, 3725)] == [
        "1 s", "45 s", "1 min", "3 min 20 s", "1 h 02 min"]


async def test_silent_and_noisy_voice_notes_are_not_questions(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, tmp_path: Path,
) -> None:
    def note(name: str, source: str) -> bytes:
        path = tmp_path / f"{name}.oga"
        ffmpeg("-f", "lavfi", "-i", source, "-ac", "1", "-c:a", "libopus", "-b:a", "24k",
               "-f", "ogg", str(path))
        return path.read_bytes()

    silence = note("silence", "anullsrc=r=48000:cl=mono:duration=5")
    noise = note("noise", "anoisesrc=color=pink:amplitude=0.01:duration=5:sample_rate=48000")
    # Half a second of sound in five: Whisper answers the rest with its subtitle credits.
    blip = note("blip", "sine=frequency=300:sample_rate=48000:duration=5,"
                "volume='if(lt(t,0.5),1,0)':eval=frame")
    recording = note("room", "anoisesrc=color=brown:amplitude=0.02:duration=8:sample_rate=48000")
    openai.transcription("Subtítulos realizados por la comunidad de Amara.org", default=True)
    bot = await start_bot()

    telegram.push_media(4101, 4101, "voice", silence, duration=5)
    telegram.push_media(4101, 4101, "voice", noise, duration=5)
    telegram.push_media(4101, 4101, "voice", blip, duration=5)
    telegram.push_media(4101, 4101, "audio", recording, mime_type="audio/ogg",
                        file_name="sala.ogg", duration=8)
    sent = await telegram.wait_for_messages(4, chat_id=4101)

    nothing = "No escuché ninguna pregunta en tu audio. ¿Puedes repetirla o escribírmela?"
    assert [m.plain for m in sent] == [nothing, nothing, nothing,
                                       "No encontré palabras en «sala.ogg», así que no hay nada "
                                       "que transcribir."]
    assert len(openai.transcription_requests) == 1  # only the blip was worth uploading
    assert openai.chat_requests == []  # and nothing went to the model as a question
    assert state_rows(bot.settings, "SELECT count(*) FROM messages") == [(0,)]
    assert state_rows(bot.settings, "SELECT count(*) FROM transcripts") == [(0,)]
async def test_a_refused_key_gets_the_customer_a_short_apology_and_the_owner_a_plain_log(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media: Media,
    caplog: pytest.LogCaptureFixture,
) -> None:
    openai.fail(401, endpoint="transcription")
    await start_bot()
    with caplog.at_level("INFO", logger="bot"):
        telegram.push_media(3701, 3701, "voice", media.voice.read_bytes(), duration=3)
        [reply] = await telegram.wait_for_messages(1, chat_id=3701)
    assert reply.plain == ("Lo siento, ahora no puedo transcribir audios. Escríbeme tu pregunta, "
                           "por favor.")
    refused = [r for r in caplog.records if "the API key was refused" in r.getMessage()]
    assert [r.levelname for r in refused] == ["ERROR"]
    assert "check OPENAI_API_KEY" in refused[0].getMessage()
    assert openai.api_key not in caplog.text

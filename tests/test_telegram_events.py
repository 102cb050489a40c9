"""Photos, stickers and everything else a chat can send, end to end: the real PTB Application
against the fake Bot API, the real AsyncOpenAI client against the fake OpenAI API."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import openai as openai_sdk
import pytest
from openai import AsyncOpenAI

from bot.audio.conversion import ffmpeg_executable
from bot.catalog.money import format_soles
from bot.settings import Settings
from tests.fakes.media_server import MediaServer
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import (
    GROUP,
    TOKEN,
    RunningBot,
    catalog_value,
    model_settings,
    reply_target,
    state_rows,
)

StartBot = Callable[..., Awaitable[RunningBot]]
LAPTOP_SQL = ("SELECT name, price FROM products WHERE category = 'Laptops' AND color = 'Negro'"
              " ORDER BY price LIMIT 3")


def model_calls(openai: FakeOpenAI) -> list[RecordedRequest]:
    """Requests to the model endpoint besides ``kratos run``'s start-up check of its models
    list."""
    return [r for r in openai.requests if (r.method, r.path) != ("GET", "/v1/models")]


@pytest.fixture
def start_bot(make_settings: Callable[..., Settings], catalog_db: Path, telegram: FakeTelegram,
              openai: FakeOpenAI, running_bots: list[RunningBot]) -> StartBot:
    """Start the bot as ``kratos run`` does, with the model unless model=False."""

    async def start(*, model: bool = True, **overrides: str) -> RunningBot:
        values = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": telegram.root,
                  **(model_settings(openai) if model else {}), **overrides}
        bot = await RunningBot.launch(make_settings(**values))
        running_bots.append(bot)
        return bot

    return start


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 320x240 JPEG photo made with the bundled ffmpeg."""
    path = tmp_path_factory.mktemp("photos") / "laptop.jpg"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=1", "-frames:v", "1",
                    "-c:v", "mjpeg", "-f", "image2", str(path)],
                   check=True, capture_output=True, timeout=60)
    return path.read_bytes()


def user_contents(openai: FakeOpenAI) -> list[Any]:
    """The last user message of every chat request, in order."""
    return [next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
            for body in openai.chat_requests]


# -- photos ---------------------------------------------------------------------------------

async def test_a_photo_caption_is_answered_as_a_question(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, jpeg: bytes,
) -> None:
    openai.responder(lambda body: "Sí, tenemos laptops negras.")
    bot = await start_bot()
    mention = f"@{telegram.username}"

    telegram.push_photo(5001, 5001, jpeg, caption="¿tienen esta laptop en negro?")
    telegram.push_photo(GROUP, 5002, jpeg, caption="¿y esta en blanco?", chat_type="supergroup")
    asked = telegram.push_photo(GROUP, 5002, jpeg, caption=f"{mention} ¿tienen esta en rojo?",
                                chat_type="supergroup")
    [private] = await telegram.wait_for_messages(1, chat_id=5001)
    [group] = await telegram.wait_for_messages(1, chat_id=GROUP)
    await asyncio.sleep(0.3)  # time for the unaddressed group photo to be wrongly answered

    assert private.plain == group.plain == "Sí, tenemos laptops negras."
    assert reply_target(group) == asked["message"]["message_id"]
    assert sorted(user_contents(openai)) == ["¿tienen esta en rojo?",
                                             "¿tienen esta laptop en negro?"]
    assert len(telegram.sent_messages(GROUP)) == 1
    assert telegram.calls_to("getFile") == []  # without vision the photo is not fetched
    assert state_rows(bot.settings, "SELECT content FROM messages WHERE conversation = 'u:5001'"
                      " AND role = 'user'") == [("¿tienen esta laptop en negro?",)]


async def test_without_vision_a_bare_photo_gets_one_line_and_no_model_call(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, jpeg: bytes,
) -> None:
    await start_bot()

    telegram.push_photo(5101, 5101, jpeg)
    telegram.push_photo(5102, 5102, jpeg, language_code="en")
    [spanish] = await telegram.wait_for_messages(1, chat_id=5101)
    [english] = await telegram.wait_for_messages(1, chat_id=5102)

    assert spanish.plain == ("📷 Recibí tu foto, pero aquí no puedo ver imágenes. Escríbeme qué "
                             "producto buscas o envíame la foto con tu pregunta en el texto.")
    assert english.plain.startswith("📷 I got your photo, but I can't see images here.")
    assert model_calls(openai) == []
    assert telegram.calls_to("getFile") == []


async def test_with_vision_a_photo_is_described_and_searched_in_the_catalog(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, jpeg: bytes,
    catalog_db: Path,
) -> None:
    name = catalog_value(catalog_db, LAPTOP_SQL.replace("name, price", "name"))
    price = catalog_value(catalog_db, LAPTOP_SQL.replace("name, price", "price"))
    answer = (f"No veo ese modelo exacto, pero lo más parecido es {name}, a "
              f"{format_soles(price)}.")
    openai.reply("laptop negra Lenovo 15 pulgadas")
    openai.tool_call("run_sql", {"query": LAPTOP_SQL})
    openai.reply(answer)
    bot = await start_bot(VISION_MODEL="gpt-4o-mini")

    photo = telegram.push_photo(5201, 5201, jpeg, caption="¿tienen esto?")
    [reply] = await telegram.wait_for_messages(1, chat_id=5201)

    assert reply.plain == answer
    look, search, _ = openai.chat_requests
    assert look["model"] == "gpt-4o-mini"
    text_part, image_part = look["messages"][-1]["content"]
    assert text_part["type"] == "text" and image_part["type"] == "image_url"
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == jpeg  # the full-size photo, unchanged
    [get_file] = telegram.calls_to("getFile")
    assert get_file.params["file_id"] == photo["message"]["photo"][-1]["file_id"]
    question = search["messages"][-1]["content"]
    assert question.startswith("¿tienen esto?")
    assert "laptop negra Lenovo 15 pulgadas" in question
    assert "No digas que tenemos exactamente ese producto salvo que las filas lo muestren" \
        in question
    [(remembered,)] = state_rows(bot.settings, "SELECT content FROM messages WHERE"
                                 " conversation = 'u:5201' AND role = 'user'")
    assert "laptop negra Lenovo" in remembered


async def test_with_vision_a_photo_of_nothing_gets_a_kind_line(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, jpeg: bytes,
) -> None:
    openai.reply("NONE")
    await start_bot(VISION_MODEL="gpt-4o-mini")

    telegram.push_photo(5301, 5301, jpeg)
    [reply] = await telegram.wait_for_messages(1, chat_id=5301)

    assert reply.plain == "No pude reconocer un producto en la foto. ¿Me escribes cuál buscas?"
    assert len(openai.chat_requests) == 1  # no catalog search for nothing


@pytest.fixture
async def client(openai: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    llm = AsyncOpenAI(api_key=openai.api_key, base_url=openai.base_url, max_retries=0)
    yield llm
    await llm.close()


@pytest.mark.parametrize("url", [
    "data:image/png;base64," + base64.b64encode(b"<html>not a picture</html>").decode(),
    "data:image/jpeg;base64,%%%not-base64%%%",
    "ftp://example.com/photo.jpg",
])
async def test_the_fake_api_refuses_images_the_real_one_refuses(
    openai: FakeOpenAI, client: AsyncOpenAI, url: str,
) -> None:
    openai.responder(lambda body: "never")
    with pytest.raises(openai_sdk.BadRequestError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])


async def test_the_fake_api_takes_images_the_real_one_takes(
    openai: FakeOpenAI, client: AsyncOpenAI, jpeg: bytes,
) -> None:
    openai.responder(lambda body: "una imagen de prueba")
    data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    for image in ({"url": data_url, "detail": "low"}, {"url": "https://example.com/a.png"}):
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": [{"type": "text", "text": "¿qué es?"},
                                         {"type": "image_url", "image_url": image}]}])
        assert response.choices[0].message.content == "una imagen de prueba"


# -- stickers, GIFs, locations, contacts, polls, dice -----------------------------------------

OTHER_CONTENT: dict[str, dict[str, Any]] = {
    "sticker": {"sticker": {"file_id": "st1", "file_unique_id": "ust1", "type": "regular",
                            "width": 512, "height": 512, "is_animated": False,
                            "is_video": False, "emoji": "👍"}},
    "gif": {"animation": {"file_id": "an1", "file_unique_id": "uan1", "width": 320,
                          "height": 240, "duration": 2, "mime_type": "video/mp4",
                          "file_name": "risa.gif.mp4"},
            "document": {"file_id": "an1", "file_unique_id": "uan1", "mime_type": "video/mp4",
                         "file_name": "risa.gif.mp4"}},
    "location": {"location": {"latitude": -12.0464, "longitude": -77.0428}},
    "venue": {"location": {"latitude": -12.0464, "longitude": -77.0428},
              "venue": {"location": {"latitude": -12.0464, "longitude": -77.0428},
                        "title": "Tienda Centro", "address": "Jr. de la Unión 500"}},
    "contact": {"contact": {"phone_number": "+51999888777", "first_name": "Rosa"}},
    "poll": {"poll": {"id": "p1", "question": "¿Abrimos el domingo?",
                      "options": [{"persistent_id": "o1", "text": "Sí", "voter_count": 0},
                                  {"persistent_id": "o2", "text": "No", "voter_count": 0}],
                      "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                      "type": "regular", "allows_multiple_answers": False,
                      "allows_revoting": True, "members_only": False}},
    "dice": {"dice": {"emoji": "🎲", "value": 4}},
}


@pytest.mark.parametrize("model", [True, False])
async def test_stickers_and_the_like_get_one_honest_line_in_private(
    model: bool, start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
) -> None:
    bot = await start_bot(model=model)

    for index, content in enumerate(OTHER_CONTENT.values()):
        telegram.push_content(5400 + index, 5400 + index, content)
    telegram.push_content(5499, 5499, OTHER_CONTENT["sticker"], language_code="en")
    lines = [(await telegram.wait_for_messages(1, chat_id=5400 + index))[0].plain
             for index in range(len(OTHER_CONTENT))]
    [english] = await telegram.wait_for_messages(1, chat_id=5499)

    things = ("preguntas escritas, notas de voz, audios y videos (te doy la transcripción) y "
              if model else "preguntas escritas y ")
    expected = (f"🙂 Eso no lo puedo leer. Entiendo {things}fotos con tu pregunta escrita en el "
                "texto. Pregúntame por productos, precios o stock.")
    assert lines == [expected] * len(OTHER_CONTENT)
    assert english.plain.startswith("🙂 I can't read that. I understand typed questions")
    assert ("voice notes" in english.plain) is model
    assert model_calls(openai) == []  # never a model call
    assert telegram.calls_to("getFile") == []  # a GIF is not a recording to transcribe
    assert state_rows(bot.settings, "SELECT count(*) FROM messages") == [(0,)]


async def test_in_groups_stickers_and_the_like_are_silent_unless_they_reply_to_the_bot(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
) -> None:
    openai.responder(lambda body: "Hola.")
    await start_bot()

    for content in OTHER_CONTENT.values():
        telegram.push_content(GROUP, 5501, content, chat_type="supergroup")
    telegram.push_text(GROUP, 5501, f"@{telegram.username} hola", chat_type="supergroup")
    [hello] = await telegram.wait_for_messages(1, chat_id=GROUP)
    replying = telegram.push_content(GROUP, 5501, OTHER_CONTENT["sticker"],
                                     chat_type="supergroup", reply_to_message=hello.message)
    [_, line] = await telegram.wait_for_messages(2, chat_id=GROUP)
    await asyncio.sleep(0.3)

    assert line.plain.startswith("🙂 Eso no lo puedo leer.")
    assert reply_target(line) == replying["message"]["message_id"]
    assert len(telegram.sent_messages(GROUP)) == 2
    assert len(openai.chat_requests) == 1  # only the greeting


# -- edited messages --------------------------------------------------------------------------

def echo_question(body: dict[str, Any]) -> str:
    """A model that answers by repeating the question it was asked."""
    return f"Respuesta a: {body['messages'][-1]['content']}"


async def test_a_corrected_latest_question_is_answered_again_in_place(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
) -> None:
    openai.responder(echo_question)
    bot = await start_bot()

    asked = telegram.push_text(5601, 5601, "¿tienen laptps?")
    [first] = await telegram.wait_for_messages(1, chat_id=5601)
    telegram.push_edit(asked, "¿tienen laptops?")
    [edit] = await telegram.wait_for_calls("editMessageText")

    assert first.plain == "Respuesta a: ¿tienen laptps?"
    assert edit.status == 200
    assert edit.params["message_id"] == first.message_id
    assert telegram.bot_texts[(5601, first.message_id)] == "Respuesta a: ¿tienen laptops?"
    assert len(telegram.sent_messages(5601)) == 1  # edited, not sent again
    # The model saw the corrected question without the typo's exchange in its history.
    assert [m["content"] for m in openai.chat_requests[1]["messages"][2:]] == [  # after the date
        "¿tienen laptops?"]
    assert state_rows(bot.settings, "SELECT role, content FROM messages WHERE conversation ="
                      " 'u:5601' ORDER BY id") == [
        ("user", "¿tienen laptops?"), ("assistant", "Respuesta a: ¿tienen laptops?")]


async def test_edits_of_older_questions_or_after_the_window_are_ignored(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
) -> None:
    openai.responder(echo_question)
    bot = await start_bot()

    older = telegram.push_text(5701, 5701, "¿tienen monitores?")
    await telegram.wait_for_messages(1, chat_id=5701)
    latest = telegram.push_text(5701, 5701, "¿y teclados?")
    await telegram.wait_for_messages(2, chat_id=5701)
    telegram.push_edit(older, "¿tienen monitores LG?")  # not the latest question
    telegram.push_edit(latest, "¿y teclados?")  # unchanged text (a formatting edit)
    await asyncio.sleep(0.5)
    assert telegram.calls_to("editMessageText") == []

    bot.application.bot_data.recent.window = 0.2  # minutes later, in test time
    await asyncio.sleep(0.3)
    telegram.push_edit(latest, "¿y teclados Logitech?")
    await asyncio.sleep(0.5)

    assert telegram.calls_to("editMessageText") == []
    assert len(openai.chat_requests) == 2
    assert len(telegram.sent_messages(5701)) == 2


async def test_in_a_group_the_edited_question_keeps_its_quoted_answer(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
) -> None:
    openai.responder(echo_question)
    await start_bot()
    mention = f"@{telegram.username}"

    asked = telegram.push_text(GROUP, 5801, f"{mention} precio del iphone 51",
                               chat_type="supergroup")
    [first] = await telegram.wait_for_messages(1, chat_id=GROUP)
    telegram.push_edit(asked, f"{mention} precio del iphone 15")
    [edit] = await telegram.wait_for_calls("editMessageText")

    assert reply_target(first) == asked["message"]["message_id"]
    assert edit.params["message_id"] == first.message_id
    assert telegram.bot_texts[(GROUP, first.message_id)] == "Respuesta a: precio del iphone 15"


# -- a group becomes a supergroup -------------------------------------------------------------

OLD_GROUP, NEW_GROUP = -4001, -1004001


def push_upgrade(telegram: FakeTelegram, user_id: int) -> None:
    """The two service messages Telegram sends when a group is upgraded to a supergroup."""
    telegram.push_content(OLD_GROUP, user_id, {"migrate_to_chat_id": NEW_GROUP},
                          chat_type="group")
    telegram.push_content(NEW_GROUP, user_id, {"migrate_from_chat_id": OLD_GROUP},
                          chat_type="supergroup")


async def moved(settings: Settings, conversation: str) -> None:
    """Wait until the conversation's memory is under its new key."""
    query = "SELECT count(*) FROM messages WHERE conversation = ?"
    async with asyncio.timeout(10):
        while state_rows(settings, query, (conversation,)) == [(0,)]:
            await asyncio.sleep(0.05)


async def test_an_upgraded_group_keeps_its_memory_and_its_place_on_the_allow_list(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    openai.responder(echo_question)
    settings = {"ALLOWED_CHAT_IDS": str(OLD_GROUP)}
    bot = await start_bot(**settings)
    mention = f"@{telegram.username}"

    telegram.push_text(OLD_GROUP, 5901, f"{mention} dame laptops", chat_type="group")
    await telegram.wait_for_messages(1, chat_id=OLD_GROUP)
    with caplog.at_level("WARNING", logger="bot.channels.telegram.events"):
        push_upgrade(telegram, 5901)
        await moved(bot.settings, f"g:{NEW_GROUP}:5901")
        telegram.push_text(NEW_GROUP, 5901, f"{mention} ¿y la más barata?",
                           chat_type="supergroup")
        [answered] = await telegram.wait_for_messages(1, chat_id=NEW_GROUP)

    assert answered.plain == "Respuesta a: ¿y la más barata?"  # served, not refused
    # The memory came along: the model saw the question asked before the upgrade.
    history = [m["content"] for m in openai.chat_requests[-1]["messages"][2:]]  # after the date
    assert history == ["dame laptops", "Respuesta a: dame laptops", "¿y la más barata?"]
    assert state_rows(bot.settings, "SELECT DISTINCT conversation FROM messages") == [
        (f"g:{NEW_GROUP}:5901",)]
    assert state_rows(bot.settings, "SELECT DISTINCT chat_id FROM usage") == [(NEW_GROUP,)]
    [line] = [r.getMessage() for r in caplog.records if "ALLOWED_CHAT_IDS" in r.getMessage()]
    assert f"replace {OLD_GROUP} with {NEW_GROUP} in ALLOWED_CHAT_IDS" in line

    # After a restart the mapping comes from the state database.
    await bot.stop()
    caplog.clear()
    with caplog.at_level("WARNING", logger="bot.channels.telegram.events"):
        await start_bot(**settings)
        telegram.push_text(NEW_GROUP, 5902, f"{mention} ¿tienen monitores?",
                           chat_type="supergroup")
        [_, again] = await telegram.wait_for_messages(2, chat_id=NEW_GROUP)
    assert again.plain == "Respuesta a: ¿tienen monitores?"
    assert not [r for r in caplog.records if "ALLOWED_CHAT_IDS" in r.getMessage()]


async def test_a_group_that_was_never_allowed_stays_refused_after_an_upgrade(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI,
) -> None:
    openai.responder(echo_question)
    await start_bot(ALLOWED_CHAT_IDS="-5555")

    push_upgrade(telegram, 6001)
    telegram.push_text(NEW_GROUP, 6001, f"@{telegram.username} hola", chat_type="supergroup")
    [refused] = await telegram.wait_for_messages(1, chat_id=NEW_GROUP)

    assert "solo para el personal autorizado" in refused.plain
    assert openai.chat_requests == []


# -- honest /start and /help ------------------------------------------------------------------

def stock_bicycles(catalog_db: Path, count: int = 300) -> None:
    """Make bicycles by Monark the catalog's most common kind and brand."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(catalog_db)) as conn, conn:
        conn.executemany(
            "INSERT INTO products (sku, name, family, category, brand, model, color, description,"
            " price, stock, availability) VALUES (?, ?, 'Deportes', 'Bicicletas', 'Monark', ?,"
            " 'Rojo', 'Bicicleta urbana', 899.0, 3, 'disponible')",
            [(f"BIC-{i}", f"Bicicleta Monark Urbana {i}", f"U{i}") for i in range(count)])


async def test_without_a_model_key_help_promises_no_voice_and_examples_come_from_the_catalog(
    start_bot: StartBot, telegram: FakeTelegram, catalog_db: Path,
) -> None:
    stock_bicycles(catalog_db)
    await start_bot(model=False)

    telegram.push_text(6101, 6101, "/start")
    telegram.push_text(6101, 6101, "/help")
    start, helped = await telegram.wait_for_messages(2, chat_id=6101)

    for text in (start.plain, helped.plain):
        assert "¿Tienen bicicletas?" in text
        assert "¿Tienen algo de Monark?" in text
        assert "Dame laptops" not in text and "notas de voz" not in text.replace(
            "las notas de voz, audios y videos necesitan el servicio de voz", "")
    assert "Entiendo preguntas escritas y fotos con tu pregunta escrita en el texto." \
        in start.plain
    assert ("En esta tienda solo leo texto: las notas de voz, audios y videos necesitan el "
            "servicio de voz, que no está configurado.") in helped.plain
    assert "escribe tu pregunta en el texto de la foto" in helped.plain


async def test_with_voice_and_vision_help_says_so(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, catalog_db: Path,
) -> None:
    top_category = catalog_value(catalog_db, "SELECT category FROM products GROUP BY category"
                                 " ORDER BY count(*) DESC LIMIT 1")
    await start_bot(VISION_MODEL="gpt-4o-mini")

    telegram.push_text(6201, 6201, "/help", language_code="en")
    telegram.push_text(6202, 6202, "/start")
    [helped] = await telegram.wait_for_messages(1, chat_id=6201)
    [start] = await telegram.wait_for_messages(1, chat_id=6202)

    assert "I understand voice notes." in helped.plain
    assert "Send me a photo of a product" in helped.plain
    assert f"Do you have {top_category.lower()}?" in helped.plain
    assert ("Entiendo preguntas escritas, notas de voz, audios y videos (te doy la "
            "transcripción) y fotos de productos.") in start.plain
    assert model_calls(openai) == []  # help costs no model call


# -- links to recordings ----------------------------------------------------------------------

@pytest.fixture
async def media_site(tmp_path: Path) -> AsyncIterator[MediaServer]:
    """A local web server with a 4-second MP3, a redirect to it and a web page."""
    clip = tmp_path / "clip.mp3"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=16000:duration=4",
                    "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", str(clip)],
                   check=True, capture_output=True, timeout=60)
    async with MediaServer() as server:
        server.add_file("podcast/episodio-3.mp3", clip.read_bytes(), "audio/mpeg")
        server.add_redirect("corto", "/podcast/episodio-3.mp3")
        server.add_page("blog", "<html><body>Nuestro podcast</body></html>")
        yield server


async def test_a_link_to_a_recording_is_handled_like_a_sent_file(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media_site: MediaServer,
) -> None:
    openai.transcription("En el episodio hablamos de la laptop Lenovo IdeaPad 3.")
    openai.responder(lambda body: "Hablaron de la Lenovo IdeaPad 3.")
    bot = await start_bot(MEDIA_URL_ALLOW_PRIVATE="on")

    telegram.push_text(6301, 6301, f"transcribe {media_site.url('corto')}")
    [shared] = await telegram.wait_for_messages(1, chat_id=6301)
    telegram.push_text(6301, 6301, "¿de qué laptop hablaron?")
    [_, answered] = await telegram.wait_for_messages(2, chat_id=6301)

    assert shared.plain.startswith("📝 Transcripción de «episodio-3.mp3» (4 s):")
    assert "laptop Lenovo IdeaPad 3" in shared.plain
    assert answered.plain == "Hablaron de la Lenovo IdeaPad 3."
    assert "laptop Lenovo IdeaPad 3" in str(openai.chat_requests[0]["messages"])
    assert state_rows(bot.settings, "SELECT source_name FROM transcripts") == [
        ("episodio-3.mp3",)]
    [upload] = openai.transcription_requests
    assert upload.file is not None and upload.file.name.endswith(".wav")


async def test_links_that_cannot_be_used_get_a_clear_sentence(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media_site: MediaServer,
) -> None:
    await start_bot()  # MEDIA_URL_ALLOW_PRIVATE is off by default

    telegram.push_text(6401, 6401, media_site.url("podcast/episodio-3.mp3"))
    telegram.push_text(6402, 6402, f"transcríbeme esto {media_site.url('blog', 'localhost')}")
    [internal] = await telegram.wait_for_messages(1, chat_id=6401)
    [local] = await telegram.wait_for_messages(1, chat_id=6402)

    assert internal.plain.startswith("Ese enlace apunta a una dirección interna")
    assert local.plain == internal.plain
    assert media_site.total_requests == 0  # refused before any request
    assert model_calls(openai) == []


async def test_a_page_link_is_not_media_and_a_link_inside_a_question_stays_a_question(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, media_site: MediaServer,
) -> None:
    openai.responder(lambda body: "Sí, lo tenemos.")
    await start_bot(MEDIA_URL_ALLOW_PRIVATE="on")

    telegram.push_text(6501, 6501, media_site.url("blog"))
    telegram.push_text(6502, 6502,
                       f"¿tienen el producto de este enlace? {media_site.url('blog')}")
    [page] = await telegram.wait_for_messages(1, chat_id=6501)
    [question] = await telegram.wait_for_messages(1, chat_id=6502)

    assert page.plain.startswith("Ese enlace abre una página, no un audio ni un video.")
    assert question.plain == "Sí, lo tenemos."
    assert media_site.served["blog"].requests == 1  # only the page link was fetched
    assert openai.transcription_requests == []


async def test_an_image_sent_as_a_file_is_a_photo(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, jpeg: bytes,
    catalog_db: Path,
) -> None:
    name = catalog_value(catalog_db, LAPTOP_SQL.replace("name, price", "name"))
    price = catalog_value(catalog_db, LAPTOP_SQL.replace("name, price", "price"))
    answer = f"Lo más parecido que tenemos es {name}, a {format_soles(price)}."
    openai.reply("laptop negra Lenovo 15 pulgadas")
    openai.tool_call("run_sql", {"query": LAPTOP_SQL})
    openai.reply(answer)
    await start_bot(VISION_MODEL="gpt-4o-mini")

    sent = telegram.push_media(5401, 5401, "document", jpeg, mime_type="image/jpeg",
                               file_name="IMG_2041.jpg", caption="¿tienen esto?")
    [reply] = await telegram.wait_for_messages(1, chat_id=5401)

    assert reply.plain == answer
    look = openai.chat_requests[0]
    image_part = look["messages"][-1]["content"][1]
    assert base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1]) == jpeg
    [get_file] = telegram.calls_to("getFile")
    assert get_file.params["file_id"] == sent["message"]["document"]["file_id"]


async def test_without_vision_an_image_file_is_answered_as_a_photo(
    start_bot: StartBot, telegram: FakeTelegram, openai: FakeOpenAI, jpeg: bytes,
) -> None:
    openai.reply("¡Claro! ¿Buscas una laptop para estudiar o para trabajar?")
    await start_bot()
    telegram.push_media(5501, 5501, "document", jpeg, mime_type="image/png",
                        file_name="captura.png")
    telegram.push_media(5502, 5502, "document", jpeg, mime_type="image/jpeg",
                        file_name="foto.jpg", caption="¿cuál es la laptop más barata?")
    [bare] = await telegram.wait_for_messages(1, chat_id=5501)
    [asked] = await telegram.wait_for_messages(1, chat_id=5502)
    assert bare.plain.startswith("📷 Recibí tu foto, pero aquí no puedo ver imágenes.")
    assert asked.plain == "¡Claro! ¿Buscas una laptop para estudiar o para trabajar?"
    assert telegram.calls_to("getFile") == []
    [call] = model_calls(openai)  # the caption's question; the bare image asks nothing
    assert call.json is not None
    assert call.json["messages"][-1]["content"] == "¿cuál es la laptop más barata?"

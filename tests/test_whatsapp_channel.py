"""WhatsApp end to end: ``kratos run``'s own serving code with pywa's real async client talking
HTTP to the fake Graph API, signed webhook deliveries posted by the fake as Meta posts them, the
real AsyncOpenAI client against the fake OpenAI API, real SQLite and real OGG/Opus audio."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.audio.conversion import ffmpeg_executable
from bot.catalog.money import format_soles
from bot.channels.run import serve_channels
from bot.errors import ConfigError
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.whatsapp_server import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    FakeWhatsApp,
)
from tests.test_telegram_bot import MOST_EXPENSIVE, TOKEN, catalog_value, state_rows

CUSTOMER = "PE.13491208655302741918"
PHONE = "51987654321"
MOST_EXPENSIVE_SQL = "SELECT name, price FROM products ORDER BY price DESC LIMIT 1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    """A ``serve_channels`` run in a task, and where its webhook listens."""

    settings: Settings
    stop_event: asyncio.Event
    task: asyncio.Task[None]
    port: int

    @property
    def hook(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.settings.whatsapp_webhook_path}"

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, timeout=15)


@pytest.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as fake:
        yield fake


@pytest.fixture
async def start(make_settings: Callable[..., Settings], catalog_db: Path,
                whatsapp: FakeWhatsApp) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Start every configured channel (WhatsApp pointed at the fake); stopped after the test."""
    running: list[Running] = []

    async def launch(**overrides: str) -> Running:
        port = free_port()
        values = {"WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID":
                  PHONE_NUMBER_ID, "WHATSAPP_APP_SECRET": APP_SECRET,
                  "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN, "WHATSAPP_API_BASE_URL": whatsapp.root,
                  "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port), **overrides}
        settings = make_settings(**values)
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve_channels(settings, stop, started, grace=5.0))
        ready = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()
            raise AssertionError("the channels stopped while starting")
        run = Running(settings, stop, task, port)
        running.append(run)
        return run

    yield launch
    for run in running:
        if not run.task.done():
            await run.stop()


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Wait for ``check()`` to be truthy (work finishing after the reply was sent)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)
    return result


def model_settings(openai: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url,
            "OPENAI_MAX_RETRIES": "0", "OPENAI_TIMEOUT": "5", "ANSWER_TIMEOUT": "5"}


async def test_the_verification_handshake_echoes_the_challenge_only_for_the_verify_token(
    start: Callable[..., Awaitable[Running]],
) -> None:
    run = await start()
    async with aiohttp.ClientSession() as session:
        async with session.get(run.hook, params={
                "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444"}) as response:
            assert (response.status, await response.text()) == (200, "1158201444")
        for params in ({"hub.mode": "subscribe", "hub.verify_token": "guess",
                        "hub.challenge": "1"},
                       {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN,
                        "hub.challenge": "1"},
                       {"hub.challenge": "1"}):
            async with session.get(run.hook, params=params) as response:
                assert response.status == 403
                assert await response.text() != "1"


async def test_unsigned_or_wrongly_signed_deliveries_get_403_and_nothing_is_processed(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp,
) -> None:
    run = await start()
    forged = whatsapp.delivery(whatsapp.text(CUSTOMER, MOST_EXPENSIVE, wa_id=PHONE))
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    attempts = [
        await whatsapp.deliver(run.hook, forged, signature=None),
        await whatsapp.deliver(run.hook, forged, signature=whatsapp.sign(b"{}")),
        await whatsapp.deliver(run.hook, forged,
                               signature=whatsapp.sign(body, secret="another-app-secret")),
        await whatsapp.deliver(run.hook, forged, signature="sha1=0123abcd"),
        await whatsapp.deliver(run.hook, forged, signature=""),
    ]
    assert [a.status for a in attempts] == [403] * 5

    genuine = whatsapp.delivery(whatsapp.text("PE.2", MOST_EXPENSIVE))
    assert (await whatsapp.deliver(run.hook, genuine)).status == 200
    await whatsapp.wait_for_messages(1, to="PE.2")
    # Only the genuine delivery's message was claimed, answered, marked read.
    assert state_rows(run.settings, "SELECT count(*) FROM whatsapp_messages") == [(1,)]
    assert whatsapp.sent_to(CUSTOMER) == []
    assert whatsapp.typing == [genuine["entry"][0]["changes"][0]["value"]["messages"][0]["id"]]


async def test_a_text_question_is_answered_quoting_it_in_whatsapp_markup(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, catalog_db: Path,
) -> None:
    run = await start()
    name = catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC LIMIT 1")
    message = whatsapp.text(CUSTOMER, MOST_EXPENSIVE, wa_id=PHONE)

    delivered = await whatsapp.deliver(run.hook, whatsapp.delivery(message))
    [reply] = await whatsapp.wait_for_messages(1, to=CUSTOMER)

    assert delivered.status == 200
    assert name in reply.text
    assert reply.quoted == message["id"]
    # Sent to the business-scoped id (the "recipient" field), never the phone number.
    assert reply.body["recipient"] == CUSTOMER and "to" not in reply.body
    assert "**" not in reply.text and "<b>" not in reply.text
    assert f"*{name}*" in reply.text  # the product name in WhatsApp's bold
    assert whatsapp.typing == [message["id"]]  # read + typing on the question itself
    # Memory, usage and /stats key the customer by KRATOS's own number, in its own namespace.
    [(key, user_id)] = state_rows(run.settings, "SELECT DISTINCT conversation, user_id FROM"
                                  " usage")
    assert key == f"wa:{user_id}" and user_id > 2**60
    assert state_rows(run.settings, "SELECT identity, wa_id FROM whatsapp_users") == [
        (CUSTOMER, PHONE)]
    assert await until(lambda: state_rows(run.settings, "SELECT user_id FROM users")) == [
        (user_id,)]


async def test_each_message_is_answered_once_across_retries_duplicates_and_restarts(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp,
) -> None:
    run = await start()
    first = whatsapp.text(CUSTOMER, MOST_EXPENSIVE)
    second = whatsapp.text(CUSTOMER, "¿cuántos productos hay?")
    payload = whatsapp.delivery(first)
    # Meta retrying while the first delivery is in flight, and one delivery carrying a
    # message twice.
    results = await asyncio.gather(*(whatsapp.deliver(run.hook, payload) for _ in range(3)))
    assert [r.status for r in results] == [200, 200, 200]
    await whatsapp.deliver(run.hook, whatsapp.delivery(second, second))
    await whatsapp.wait_for_messages(2, to=CUSTOMER)

    await run.stop()
    again = await start(STATE_DB=str(run.settings.state_db))
    assert (await whatsapp.deliver(again.hook, payload)).status == 200
    third = whatsapp.text(CUSTOMER, "gracias")
    await whatsapp.deliver(again.hook, whatsapp.delivery(first, third))
    await whatsapp.wait_for_messages(3, to=CUSTOMER)
    await asyncio.sleep(0.3)

    assert [m.quoted for m in whatsapp.sent_to(CUSTOMER)] == [first["id"], second["id"],
                                                              third["id"]]
    assert state_rows(run.settings, "SELECT count(*) FROM whatsapp_messages") == [(3,)]


async def test_deliveries_are_acknowledged_before_a_slow_answer(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
) -> None:
    openai.latency = 1.5
    openai.reply("Tenemos laptops, celulares y más.")
    run = await start(**model_settings(openai))

    delivered = await whatsapp.deliver(run.hook, whatsapp.delivery(
        whatsapp.text(CUSTOMER, "¿qué venden?")))
    assert delivered.status == 200 and delivered.seconds < 1.0
    assert whatsapp.sent == []  # acknowledged first, answered afterwards
    [reply] = await whatsapp.wait_for_messages(1, to=CUSTOMER)
    assert reply.text == "Tenemos laptops, celulares y más."


async def test_a_reply_over_4096_characters_comes_as_several_messages(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
) -> None:
    lines = [f"{n}. Producto número {n} — descripción larga del modelo, disponible en tienda"
             for n in range(1, 121)]
    openai.reply("\n".join(lines))
    run = await start(**model_settings(openai))
    message = whatsapp.text(CUSTOMER, "lista todo")

    await whatsapp.deliver(run.hook, whatsapp.delivery(message))
    await whatsapp.wait_for_messages(2, to=CUSTOMER)
    await asyncio.sleep(0.3)

    parts = whatsapp.sent_to(CUSTOMER)
    assert len(parts) == 3
    assert all(len(p.text) <= 4096 for p in parts)
    assert [p.quoted for p in parts] == [message["id"], None, None]
    shown = "\n".join(p.text for p in parts)
    # Every item arrives whole, in order, its name in bold.
    assert shown.count("Producto número") == 120
    assert "\n7. *Producto número 7* — descripción larga" in shown


async def test_the_24_hour_window_as_the_api_answers_it(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = await start()
    whatsapp.window_closed.add(CUSTOMER)
    caplog.set_level(logging.INFO)

    late = whatsapp.text(CUSTOMER, MOST_EXPENSIVE)
    assert (await whatsapp.deliver(run.hook, whatsapp.delivery(late))).status == 200
    # Another customer is served meanwhile; the refused reply is tried once, not retried.
    await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.text("PE.7", MOST_EXPENSIVE)))
    await whatsapp.wait_for_messages(1, to="PE.7")
    await asyncio.sleep(0.3)
    assert [r for r in whatsapp.requests if r[:2] == ("send", CUSTOMER)] == [
        ("send", CUSTOMER, "text")]
    assert "24-hour window has closed (131047)" in caplog.text

    # A message redelivered more than 24 hours after it was written is not answered at all.
    stale = whatsapp.text("PE.8", MOST_EXPENSIVE, age=25 * 3600)
    assert (await whatsapp.deliver(run.hook, whatsapp.delivery(stale))).status == 200
    await asyncio.sleep(0.5)
    assert [r for r in whatsapp.requests if r[1] == "PE.8"] == []
    assert "past the 24-hour window" in caplog.text

    # Meta's "failed" status for an earlier reply is taken and logged.
    status = {"id": "wamid.out1", "status": "failed", "timestamp": "1", "recipient_id": PHONE,
              "errors": [{"code": 131047, "title": "Re-engagement message"}]}
    assert (await whatsapp.deliver(run.hook, whatsapp.delivery(statuses=[status]))).status \
        == 200
    assert "could not deliver reply wamid.out1: error 131047" in caplog.text


async def test_typed_commands_reset_help_and_stats(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp,
) -> None:
    run = await start(WHATSAPP_ADMIN_USERS=f"+{PHONE}")

    async def say(user: str, text: str, count: int, **options: Any) -> str:
        await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.text(user, text,
                                                                          **options)))
        return (await whatsapp.wait_for_messages(count, to=user))[-1].text

    await say(CUSTOMER, MOST_EXPENSIVE, 1)
    assert state_rows(run.settings, "SELECT count(*) FROM messages") == [(2,)]
    assert await say(CUSTOMER, "Reset", 2) == \
        "Listo, olvidé nuestra conversación. ¿En qué te ayudo?"
    assert state_rows(run.settings, "SELECT count(*) FROM messages") == [(0,)]

    ayuda = await say(CUSTOMER, "ayuda", 3)
    assert "*reset*: olvidar nuestra conversación" in ayuda and "stats" not in ayuda
    assert "*reset*: forget our conversation" in await say(CUSTOMER, "/help", 4)
    assert await say(CUSTOMER, "stats", 5) == "Eso es solo para administradores."

    admin = "PE.99"
    assert "*stats*: uso del asistente" in await say(admin, "Ayuda!", 1, wa_id=PHONE)
    stats = await say(admin, "estadísticas", 2, wa_id=PHONE)
    assert stats.startswith("*Uso de KRATOS*") and "Preguntas: 1" in stats
    # Commands are not questions: the model and memory never saw them.
    assert state_rows(run.settings, "SELECT count(*) FROM messages") == [(0,)]


async def test_allow_list_and_rate_limit_per_whatsapp_customer(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp,
) -> None:
    run = await start(WHATSAPP_ALLOWED_USERS=f"{CUSTOMER}, +51 911 111 111",
                      RATE_LIMIT_MESSAGES="2")
    for user, wa_id in (("PE.5", None), ("PE.5", None), ("PE.6", "51911111111")):
        await whatsapp.deliver(run.hook, whatsapp.delivery(
            whatsapp.text(user, MOST_EXPENSIVE, wa_id=wa_id)))
    [refusal] = await whatsapp.wait_for_messages(1, to="PE.5")
    await whatsapp.wait_for_messages(1, to="PE.6")  # allowed by phone number
    for _ in range(4):
        await whatsapp.deliver(run.hook, whatsapp.delivery(
            whatsapp.text(CUSTOMER, MOST_EXPENSIVE)))
    await whatsapp.wait_for_messages(3, to=CUSTOMER)
    await asyncio.sleep(0.3)

    assert refusal.text.startswith("Lo siento, este asistente es solo para el personal")
    assert len(whatsapp.sent_to("PE.5")) == 1  # refused once, not per message
    # Two answers and one warning (sent at once, not queued behind the answers), then silence.
    texts = [m.text for m in whatsapp.sent_to(CUSTOMER)]
    assert len(texts) == 3
    assert sum(t.startswith("Vas muy rápido") for t in texts) == 1


async def test_a_voice_note_end_to_end(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
    catalog_db: Path, tmp_path: Path,
) -> None:
    voice = tmp_path / "voice.ogg"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
                    "-ac", "1", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", str(voice)],
                   check=True, capture_output=True, timeout=60)
    name, price = (catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC"
                                 " LIMIT 1"),
                   catalog_value(catalog_db, "SELECT max(price) FROM products"))
    openai.transcription(MOST_EXPENSIVE)
    openai.tool_call("run_sql", {"query": MOST_EXPENSIVE_SQL})
    answer = f"El producto más caro es **{name}**, a {format_soles(price)}."
    openai.reply(answer)
    run = await start(**model_settings(openai))
    media_id = whatsapp.add_media(voice.read_bytes(), "audio/ogg; codecs=opus")
    message = whatsapp.voice(CUSTOMER, media_id)

    await whatsapp.deliver(run.hook, whatsapp.delivery(message))
    echo, answered = await whatsapp.wait_for_messages(2, to=CUSTOMER)

    assert echo.text == f"🎤 «{MOST_EXPENSIVE}»" and echo.quoted == message["id"]
    assert answered.text == f"El producto más caro es *{name}*, a {format_soles(price)}."
    # The media was fetched through its temporary URL with the bearer token.
    assert ("download", media_id, f"Bearer {ACCESS_TOKEN}") in whatsapp.requests
    [upload] = openai.transcription_requests
    assert upload.file is not None and upload.file.data[:4] == b"RIFF"  # converted to WAV
    assert openai.chat_requests[0]["messages"][-1] == {"role": "user",
                                                       "content": MOST_EXPENSIVE}
    assert state_rows(run.settings, "SELECT role, content FROM messages ORDER BY id") == [
        ("user", MOST_EXPENSIVE), ("assistant", answer)]


async def test_media_that_cannot_be_downloaded_gets_one_kind_sentence(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
) -> None:
    run = await start(**model_settings(openai))
    broken = whatsapp.add_media(b"OggS" + b"\0" * 200, "audio/ogg", broken=True)
    unreachable = whatsapp.add_media(b"OggS" + b"\0" * 200, "audio/ogg", unreachable=True)
    for media_id in (broken, "404404", unreachable):
        await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.voice(CUSTOMER, media_id)))
    replies = await whatsapp.wait_for_messages(3, to=CUSTOMER)

    assert [r.text for r in replies] == [
        "No pude descargar el archivo desde WhatsApp. Inténtalo de nuevo en un momento."] * 3
    assert openai.transcription_requests == [] and openai.chat_requests == []


async def test_media_over_the_size_limit_is_refused_before_downloading(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
) -> None:
    run = await start(**model_settings(openai))
    huge = whatsapp.add_media(b"ID3" + b"\0" * 100, "audio/mpeg",
                              reported_size=150 * 1024 * 1024)
    await whatsapp.deliver(run.hook, whatsapp.delivery(
        whatsapp.document(CUSTOMER, huge, "todo el dia.mp3", "audio/mpeg")))
    [reply] = await whatsapp.wait_for_messages(1, to=CUSTOMER)

    assert reply.text.startswith("El archivo pesa 150,0 MB y el máximo que puedo descargar es "
                                 "100 MB.")
    assert [r for r in whatsapp.requests if r[0] == "download"] == []
    assert openai.transcription_requests == []


async def test_a_recording_becomes_a_transcript_to_ask_about(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    clip = tmp_path / "reunion.mp3"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=16000:duration=4",
                    "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", str(clip)],
                   check=True, capture_output=True, timeout=60)
    meeting = "Hablamos de la laptop Lenovo IdeaPad 3; el cliente pidió precios por mayor."
    openai.transcription(meeting)
    run = await start(**model_settings(openai))
    media_id = whatsapp.add_media(clip.read_bytes(), "audio/mpeg")
    pdf = whatsapp.add_media(b"%PDF-1.4 not sound", "application/pdf")

    await whatsapp.deliver(run.hook, whatsapp.delivery(
        whatsapp.document(CUSTOMER, media_id, "reunión de ventas.mp3", "audio/mpeg")))
    [transcript] = await whatsapp.wait_for_messages(1, to=CUSTOMER)
    await whatsapp.deliver(run.hook, whatsapp.delivery(
        whatsapp.document(CUSTOMER, pdf, "catalogo.pdf", "application/pdf"),
        whatsapp.message(CUSTOMER, "sticker", {"id": "1", "mime_type": "image/webp"}),
        whatsapp.message(CUSTOMER, "reaction", {"message_id": "wamid.x", "emoji": "👍"})))
    _, pdf_reply, sticker_reply = await whatsapp.wait_for_messages(3, to=CUSTOMER)
    await asyncio.sleep(0.3)

    assert transcript.text.startswith(
        f"📝 Transcripción de «reunión de ventas.mp3» (4 s):\n\n{meeting}")
    assert "Con *reset* la olvido." in transcript.text
    assert state_rows(run.settings, "SELECT source_name, content FROM transcripts") == [
        ("reunión de ventas.mp3", meeting)]
    assert pdf_reply.text.startswith("Ese archivo no es de audio ni de video.")
    assert sticker_reply.text.startswith("🙂 Eso no lo puedo leer. Entiendo preguntas escritas")
    assert len(whatsapp.sent_to(CUSTOMER)) == 3  # the reaction needs no answer
    assert ("download", pdf, f"Bearer {ACCESS_TOKEN}") not in whatsapp.requests


async def test_one_port_serves_the_telegram_and_whatsapp_webhooks(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, telegram: FakeTelegram,
    catalog_db: Path,
) -> None:
    run = await start(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root,
                      WEBHOOK_URL="https://shop.example/telegram-hook", WEBHOOK_SECRET="s3cret")
    name = catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC LIMIT 1")
    assert telegram.webhook == {"url": "https://shop.example/telegram-hook",
                                "secret_token": "s3cret",
                                "allowed_updates": ["message", "edited_message"]}
    telegram_hook = f"http://127.0.0.1:{run.port}/telegram-hook"

    async with aiohttp.ClientSession() as session:
        update = telegram.make_text_update(4101, 4101, MOST_EXPENSIVE)
        async with session.post(telegram_hook, json=update,
                                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as refused:
            assert refused.status == 403
        async with session.post(telegram_hook, json=update,
                                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as taken:
            assert taken.status == 200
    await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.text(CUSTOMER, MOST_EXPENSIVE)))
    [on_telegram] = await telegram.wait_for_messages(1, chat_id=4101)
    [on_whatsapp] = await whatsapp.wait_for_messages(1, to=CUSTOMER)

    assert name in on_telegram.plain and name in on_whatsapp.text
    assert telegram.calls_to("getUpdates") == []
    # Two customers, two channels, two conversations that never mix.
    keys = {row[0] for row in state_rows(run.settings, "SELECT conversation FROM messages")}
    assert keys == {"u:4101", next(k for k in keys if k.startswith("wa:"))}


async def test_telegram_polling_and_whatsapp_run_together(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, telegram: FakeTelegram,
) -> None:
    run = await start(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root)
    telegram.push_text(4201, 4201, MOST_EXPENSIVE)
    await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.text(CUSTOMER, MOST_EXPENSIVE)))
    await telegram.wait_for_messages(1, chat_id=4201)
    await whatsapp.wait_for_messages(1, to=CUSTOMER)
    await run.stop()
    assert telegram.calls_to("getUpdates")


async def test_long_transcripts_come_as_a_file_and_short_answers_also_spoken(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    clip = tmp_path / "clip.ogg"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                    "-ac", "1", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", str(clip)],
                   check=True, capture_output=True, timeout=60)
    long_text = "Hablamos de precios por mayor y de la laptop Lenovo. " * 80
    openai.transcription(long_text.strip())
    openai.transcription("¿tienen laptops?")
    openai.responder(lambda body: "Sí, tenemos **varias** laptops.")
    run = await start(VOICE_REPLIES="on", **model_settings(openai))
    recording = whatsapp.document(CUSTOMER, whatsapp.add_media(clip.read_bytes(), "audio/ogg"),
                                  "llamada.ogg", "audio/ogg")
    note = whatsapp.voice(CUSTOMER, whatsapp.add_media(clip.read_bytes(), "audio/ogg"))

    await whatsapp.deliver(run.hook, whatsapp.delivery(recording))
    [document] = await whatsapp.wait_for_messages(1, to=CUSTOMER)
    await whatsapp.deliver(run.hook, whatsapp.delivery(note))
    _, heard, answered, spoken = await whatsapp.wait_for_messages(4, to=CUSTOMER)

    assert document.type == "document" and document.quoted == recording["id"]
    assert document.body["document"]["filename"] == "transcripcion-llamada.txt"
    assert document.text.startswith("📝 Te envío la transcripción de «llamada.ogg» (2 s)")
    assert "Con *reset* la olvido." in document.text
    uploaded = whatsapp.uploads[document.body["document"]["id"]]
    assert uploaded.data.decode() == long_text.strip() and uploaded.mime_type == "text/plain"
    assert (heard.text, answered.text) == ("🎤 «¿tienen laptops?»", "Sí, tenemos *varias* laptops.")
    assert spoken.type == "audio"
    voice = whatsapp.uploads[spoken.body["audio"]["id"]]
    assert voice.data.startswith(b"OggS") and b"OpusHead" in voice.data[:128]


async def test_one_path_for_both_webhooks_is_a_configuration_error(
    start: Callable[..., Awaitable[Running]], telegram: FakeTelegram,
) -> None:
    with pytest.raises(ConfigError) as caught:
        await start(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root,
                    WEBHOOK_URL="https://shop.example/whatsapp", WEBHOOK_SECRET="s3cret")
    assert "necesitan una ruta cada uno" in str(caught.value)
    assert telegram.webhook is None


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_kratos_run_serves_whatsapp_alone_and_stops_cleanly_on_sigterm(
    whatsapp: FakeWhatsApp, catalog_db: Path, tmp_path: Path, level: str,
) -> None:
    port = free_port()
    question = "¿cuál es el producto más caro de la tienda?"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LOG_LEVEL": level,
           "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
           "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
           "WHATSAPP_API_BASE_URL": whatsapp.root, "WEBHOOK_LISTEN": "127.0.0.1",
           "WEBHOOK_PORT": str(port), "CATALOG_DB": str(catalog_db),
           "STATE_DB": str(tmp_path / "state.db")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "run",
        cwd=Path(__file__).resolve().parent.parent, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    hook = f"http://127.0.0.1:{port}/whatsapp"
    try:
        async with aiohttp.ClientSession() as session:
            params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                      "hub.challenge": "42"}
            for _ in range(300):
                assert process.returncode is None, "kratos run exited while starting"
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(hook, params=params) as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
        await whatsapp.deliver(hook, whatsapp.delivery(
            whatsapp.text(CUSTOMER, question, wa_id=PHONE)))
        await whatsapp.wait_for_messages(1, to=CUSTOMER, timeout=30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    log = stderr.decode()
    assert process.returncode == 0, log
    assert "webhook server listening on 127.0.0.1" in log and "/whatsapp" in log
    assert "KRATOS is starting" in log and f"WhatsApp number id {PHONE_NUMBER_ID}" in log
    for secret in (ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert secret not in log
    if level == "INFO":  # by default the customer's words and number stay out of the log
        assert question not in log and PHONE not in log and CUSTOMER not in log
        assert "engine=basic" in log


async def test_the_daily_token_budget_is_per_whatsapp_customer(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
) -> None:
    openai.responder(lambda body: "Tenemos laptops y celulares.")
    run = await start(DAILY_TOKEN_BUDGET="100", **model_settings(openai))
    for user in (CUSTOMER, CUSTOMER, "PE.3"):
        await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.text(user, "¿qué venden?")))
    first, second = await whatsapp.wait_for_messages(2, to=CUSTOMER)
    [other] = await whatsapp.wait_for_messages(1, to="PE.3")

    assert first.text == other.text == "Tenemos laptops y celulares."
    assert second.text == "Llegaste al límite de consultas de hoy. Vuelve mañana, ¡gracias!"
    assert len(openai.chat_requests) == 2


def small_jpeg(tmp_path: Path) -> bytes:
    """A real 160x120 JPEG made with the bundled ffmpeg."""
    path = tmp_path / "photo.jpg"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", str(path)],
                   check=True, capture_output=True, timeout=60)
    return path.read_bytes()


async def test_a_photo_with_vision_is_described_and_searched(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, openai: FakeOpenAI,
    catalog_db: Path, tmp_path: Path,
) -> None:
    jpeg = small_jpeg(tmp_path)
    name, price = (catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC"
                                 " LIMIT 1"),
                   catalog_value(catalog_db, "SELECT max(price) FROM products"))
    openai.reply("laptop gamer negra")
    openai.tool_call("run_sql", {"query": MOST_EXPENSIVE_SQL})
    openai.reply(f"Lo más parecido es {name}, a {format_soles(price)}.")
    run = await start(**model_settings(openai), VISION_MODEL="gpt-4o-mini")
    media_id = whatsapp.add_media(jpeg, "image/jpeg")

    await whatsapp.deliver(run.hook, whatsapp.delivery(whatsapp.message(
        CUSTOMER, "image", {"id": media_id, "mime_type": "image/jpeg", "sha256": "x",
                            "caption": "¿tienen esta?"})))
    [answered] = await whatsapp.wait_for_messages(1, to=CUSTOMER)

    assert answered.text == f"Lo más parecido es {name}, a {format_soles(price)}."
    look, search, _ = openai.chat_requests
    assert look["model"] == "gpt-4o-mini"
    url = look["messages"][-1]["content"][1]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == jpeg
    assert search["messages"][-1]["content"].startswith("¿tienen esta?")
    assert "laptop gamer negra" in search["messages"][-1]["content"]
    assert ("download", media_id, f"Bearer {ACCESS_TOKEN}") in whatsapp.requests


async def test_without_vision_a_photos_caption_is_the_question(
    start: Callable[..., Awaitable[Running]], whatsapp: FakeWhatsApp, catalog_db: Path,
) -> None:
    run = await start()  # basic mode: no model, no vision
    name = catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC LIMIT 1")
    await whatsapp.deliver(run.hook, whatsapp.delivery(
        whatsapp.message(CUSTOMER, "image", {"id": "77", "mime_type": "image/jpeg",
                                             "caption": MOST_EXPENSIVE}),
        whatsapp.message("PE.2", "image", {"id": "78", "mime_type": "image/jpeg"})))
    [asked] = await whatsapp.wait_for_messages(1, to=CUSTOMER)
    [bare] = await whatsapp.wait_for_messages(1, to="PE.2")
    assert name in asked.text
    assert bare.text.startswith("📷 Recibí tu foto, pero aquí no puedo ver imágenes.")
    assert not [r for r in whatsapp.requests if r[0] == "download"]

"""Logging never prints a secret, whoever logs it."""

import logging

import pytest

from bot.logs import configure_logging
from bot.settings import Settings


def test_secrets_are_redacted_from_every_logger(capsys):
    settings = Settings.from_mapping({
        "TELEGRAM_BOT_TOKEN": "123456:AAE-secret-token", "OPENAI_API_KEY": "sk-live-abcdef",
        "WEBHOOK_SECRET": "hook-secret-42",
    })
    configure_logging("DEBUG", settings.secrets())
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Set Bot API URL: https://api.telegram.org/bot123456:AAE-secret-token")
    logging.getLogger("openai").debug("headers: Authorization: Bearer sk-live-abcdef")
    logging.getLogger("bot.channels.telegram.bot").info("webhook secret %s", "hook-secret-42")
    err = capsys.readouterr().err
    assert "AAE-secret-token" not in err and "sk-live-abcdef" not in err
    assert "hook-secret-42" not in err
    assert err.count("[redacted]") == 3
    assert "Set Bot API URL: https://api.telegram.org/bot[redacted]" in err


def test_chatty_libraries_are_quieted():
    configure_logging("DEBUG")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("sqlglot").level == logging.ERROR


@pytest.mark.parametrize("secret", ["k", "Zq9_x", "ab-12"])
def test_short_secrets_are_redacted_too(capsys, secret):
    configure_logging("DEBUG", Settings.from_mapping({"WEBHOOK_SECRET": secret}).secrets())
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Calling Bot API endpoint `%s` with parameters `%s`", "setWebhook",
        {"url": "https://x.example/hook", "secret_token": secret})
    err = capsys.readouterr().err
    assert secret not in err.split(" DEBUG ", 1)[1]
    assert "[redacted]" in err or "[hidden" in err


def test_customer_words_are_hidden_from_telegram_debug_records(capsys):
    configure_logging("DEBUG")
    telegram = logging.getLogger("telegram.ext.Application")
    telegram.debug("Processing update %s", {"message": {"text": "mi tarjeta 4111"}})
    logging.getLogger("telegram.ext._utils.webhookhandler").debug(
        "Webhook received data: %s", '{"message": {"text": "mi tarjeta 4111"}}')
    logging.getLogger("telegram.ext.ExtBot").debug("A new record %s of %s", "x",
                                                   {"text": "mi tarjeta 4111"})
    logging.getLogger("bot.core.basic").debug("basic query: %s", {"words": ["tarjeta", "4111"]})
    err = capsys.readouterr().err
    assert "4111" not in err
    assert err.count("[hidden: LOG_MESSAGES=off]") == 4
    assert "A new record x of" in err


def test_log_messages_on_keeps_them(capsys):
    configure_logging("DEBUG", log_messages=True)
    logging.getLogger("telegram.ext.Application").debug("Processing update %s", "hola 4111")
    assert "hola 4111" in capsys.readouterr().err


def test_customer_words_are_hidden_from_pywa_debug_records(capsys):
    configure_logging("DEBUG")
    api = logging.getLogger("pywa_async.api")
    api.debug("Making %s request to %s with kwargs: %s", "POST", "/123/messages",
              {"json": {"to": "51987654321", "text": {"body": "su tarjeta 4111 llegó"}}})
    api.debug("Response code %d from %s: %s", 200, "/123/messages",
              '{"contacts":[{"wa_id":"51987654321"}],"messages":[{"id":"wamid.X"}]}')
    server = logging.LoggerAdapter(logging.getLogger("pywa.server"), {})
    server.debug("[ab12cd34] [/webhook] Received raw update: %s",
                 '{"entry":[{"changes":[{"value":{"messages":[{"text":{"body":"4111"}}]}}]}]}')
    logging.getLogger("pywa.server").debug("[%s] preview=%r", "/webhook", '{"text": "4111"}')
    logging.getLogger("pywa").debug("Some later record %s", {"body": "4111"})
    err = capsys.readouterr().err
    assert "4111" not in err and "51987654321" not in err
    assert err.count("[hidden: LOG_MESSAGES=off]") == 5
    assert "Making POST request to /123/messages" in err
    assert "Response code 200 from /123/messages" in err

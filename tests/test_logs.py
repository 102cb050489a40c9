"""Logging never prints a secret, whoever logs it."""

import logging

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
    logging.getLogger("bot.telegram_bot").info("webhook secret %s", "hook-secret-42")
    err = capsys.readouterr().err
    assert "AAE-secret-token" not in err and "sk-live-abcdef" not in err
    assert "hook-secret-42" not in err
    assert err.count("[redacted]") == 3
    assert "Set Bot API URL: https://api.telegram.org/bot[redacted]" in err


def test_chatty_libraries_are_quieted():
    configure_logging("DEBUG")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("sqlglot").level == logging.ERROR

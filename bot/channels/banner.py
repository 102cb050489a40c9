"""The start-up banner: what is running, in a few lines, for the owner reading the log.

``kratos run`` logs it once the bot is connected, ``kratos console`` prints it before the chat,
``kratos ask --verbose`` before the answer. It names the engine (model and endpoint host, or
basic mode and why), the catalog (path and the size of its main table), the channels, whether
voice notes work, and where the logs go. It never shows a secret: hosts, not URLs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.catalog.reader import TableInfo
    from bot.core.context import AppContext

OPENAI_HOST = "api.openai.com"


def endpoint_host(base_url: str) -> str:
    """The host (and port) of an OpenAI-compatible endpoint, without credentials or path."""
    if not base_url:
        return OPENAI_HOST
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


def engine_line(settings: Settings) -> str:
    """Which engine answers, and why basic mode when it is basic mode."""
    if settings.model_enabled:
        return (f"model {settings.openai_model} at {endpoint_host(settings.openai_base_url)} "
                "(basic mode if it fails)")
    return "basic mode (OPENAI_API_KEY is not set)"


def catalog_line(settings: Settings, tables: list[TableInfo]) -> str:
    """The catalog's path and the row count of its largest table (its products)."""
    plain = [t for t in tables if not t.is_fts]
    if not plain:
        return f"{settings.catalog_db} (no tables)"
    main = max(plain, key=lambda t: t.row_count)
    return f"{settings.catalog_db} ({main.name}: {main.row_count} rows)"


def voice_line(settings: Settings) -> str:
    """Whether voice notes are transcribed, with what, and whether replies are spoken."""
    if not settings.model_enabled:
        return "off (transcription needs OPENAI_API_KEY)"
    spoken = f"spoken replies on ({settings.tts_model})" if settings.voice_replies \
        else "spoken replies off"
    return (f"on ({settings.transcribe_model}, language {settings.transcribe_language or 'auto'};"
            f" groups: {settings.group_voice_mode}; {spoken})")


def telegram_channel(settings: Settings, username: str) -> str:
    """The Telegram channel as ``kratos run`` serves it: polling or a webhook."""
    if settings.webhook_url:
        return (f"Telegram @{username} by webhook {endpoint_host(settings.webhook_url)}, "
                f"listening on {settings.webhook_listen}:{settings.webhook_port}")
    return f"Telegram @{username} by polling"


def startup_banner(settings: Settings, tables: list[TableInfo], *, channels: str,
                   logs: str) -> str:
    """The banner as one block of lines (no trailing newline)."""
    rows = [
        ("engine", engine_line(settings)),
        ("catalog", catalog_line(settings, tables)),
        ("channels", channels),
        ("voice", voice_line(settings)),
        ("logs", logs),
    ]
    return "KRATOS is starting:\n" + "\n".join(f"  {name + ':':<10}{text}" for name, text in rows)


async def describe(app: AppContext, *, channels: str, logs: str) -> str:
    """The banner for a running context (its catalog's tables read at open)."""
    return startup_banner(app.settings, await app.catalog.tables(), channels=channels, logs=logs)

"""Logging, configured once at start-up, with secrets blotted out of every line.

Libraries log URLs at DEBUG, and Bot API URLs carry the bot token (``/bot<token>/getMe``), so
redaction happens in the formatter: whatever a library writes, the token never reaches a log.
Every configured secret is blotted out whatever its length (a 5-character WEBHOOK_SECRET was
once printed whole).

At DEBUG, python-telegram-bot logs whole updates and Bot API calls, and pywa every Graph API
request and response, customers' messages and numbers included; unless LOG_MESSAGES is on,
those parts of their records are replaced by ``[hidden]``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path

REDACTED = "[redacted]"
HIDDEN = "[hidden: LOG_MESSAGES=off]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: python-telegram-bot's DEBUG records that carry message contents, and which of their
#: arguments does (PTB 22: telegram/_bot.py, ext/_application.py, ext/_utils/webhookhandler.py).
CONTENT_RECORDS: dict[str, tuple[int, ...]] = {
    "Calling Bot API endpoint `%s` with parameters `%s`": (1,),
    "Call to Bot API endpoint `%s` finished with return value `%s`": (1,),
    "Processing update %s": (0,),
    "Dropping pending update: %s": (0,),
    "Webhook received data: %s": (0,),
    # pywa 4 (api.py, server.py; its update logger puts "[hash] [endpoint] " before these).
    "Making %s request to %s with kwargs: %s": (2,),
    "Response code %d from %s: %s": (2,),
    "Received raw update: %s": (0,),
    "] preview=%r": (1,),
}
#: Libraries whose other DEBUG records may hold a message inside a structure: PTB's updates
#: and parameters, pywa's requests, aiosqlite's operations (the SQL and its parameters).
CONTENT_LOGGERS = frozenset({"telegram", "aiosqlite", "pywa", "pywa_async"})
#: KRATOS's own DEBUG records that echo what a customer wrote: basic mode's reading of the
#: question, and the catalog's SQL (the model writes the customer's words into it, e.g.
#: ``WHERE name LIKE '%45678912%'``; bot/catalog/reader.py).
OWN_CONTENT_RECORDS: dict[str, tuple[int, ...]] = {
    "basic query: %s": (0,),
    "catalog query refused (%s): %s": (1,),
    "catalog query failed after %.1f ms (%s): %s": (2,),
    "catalog query %.1f ms, %d rows%s: %s": (3,),
}


class HideMessages(logging.Filter):
    """Replaces the customer's words in the DEBUG records that carry them with ``[hidden]``.

    Known records lose exactly their content arguments; any other DEBUG record of
    ``CONTENT_LOGGERS`` loses every argument that is a structure (an update, a dict of
    parameters, an aiosqlite operation), so a record a later version adds cannot print a
    message whole either.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG or not record.args:
            return True
        known = _known_record(str(record.msg))
        from_library = record.name.split(".", 1)[0] in CONTENT_LOGGERS
        if known is None and not from_library:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        record.args = tuple(
            HIDDEN if (known is not None and index in known)
            or (known is None and not isinstance(arg, str | int | float | bool | type(None)))
            else arg
            for index, arg in enumerate(args)
        )
        return True


def _known_record(message: str) -> tuple[int, ...] | None:
    """The content arguments of a known record, also behind a prefix a logger adapter adds."""
    known = OWN_CONTENT_RECORDS.get(message) or CONTENT_RECORDS.get(message)
    if known is None:
        known = next((args for text, args in CONTENT_RECORDS.items()
                      if message.endswith(text)), None)
    return known


class RedactingFormatter(logging.Formatter):
    """Formats records as usual, then replaces each secret with ``[redacted]``."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def configure_logging(level: str, secrets: Iterable[str] = (), *,
                      log_messages: bool = False) -> None:
    """Log to stderr at ``level``; quiet chatty libraries; never print a secret, nor (unless
    ``log_messages``) the words of customers' messages."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, secrets))
    if not log_messages:
        handler.addFilter(HideMessages())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # sqlglot warns when it falls back to parsing a statement as a Command; the guard refuses
    # those anyway, and the warning would clutter `kratos sql`.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    if not log_messages:
        logging.getLogger(__name__).debug(
            "customers' messages are hidden from these logs; LOG_MESSAGES=on shows them")


def quiet_for_terminal(level: str) -> None:
    """Keep warnings only at the default level, for output meant for people in a terminal.

    Per-answer INFO lines on stderr would interleave with a chat, an answer or an eval table;
    LOG_LEVEL=DEBUG (or WARNING and above) is left as it is.
    """
    if level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)


class LogFile(logging.FileHandler):
    """The log file ``log_to_file`` opened (and ``close_log_files`` closes)."""


def close_log_files() -> None:
    """Detach and close the log files ``log_to_file`` opened; other handlers stay."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, LogFile):
            root.removeHandler(handler)
            handler.close()


def log_to_file(path: Path, level: str, secrets: Iterable[str] = (), *,
                also_stderr: bool = False, log_messages: bool = False) -> str:
    """Send every log line to ``path`` (appended) instead of the terminal; returns where.

    For the terminal chat and ``kratos ask``: a warning printed between two answers reads as
    part of the conversation. With ``also_stderr`` (``ask --verbose``) INFO and above also go
    to stderr, whatever ``level`` the file keeps. When the file cannot be opened, only errors
    reach stderr and the result says so. Customers' words are hidden as ``configure_logging``
    hides them, unless ``log_messages``.
    """
    formatter = RedactingFormatter(FORMAT, secrets)
    handlers: list[logging.Handler] = []
    if also_stderr:
        verbose = logging.StreamHandler(sys.stderr)
        verbose.setLevel(logging.INFO)
        handlers.append(verbose)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log_file = LogFile(path, encoding="utf-8")
        log_file.setLevel(level)
        handlers.append(log_file)
        where = f"{path} at {level}" + (" and stderr" if also_stderr else "")
    except OSError as error:
        if not also_stderr:
            fallback = logging.StreamHandler(sys.stderr)
            fallback.setLevel(logging.ERROR)
            handlers.append(fallback)
        where = (f"stderr{'' if also_stderr else ', errors only'} ({path} cannot be written: "
                 f"{error.strerror})")
    root = logging.getLogger()
    close_log_files()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        handler.setFormatter(formatter)
        if not log_messages:
            handler.addFilter(HideMessages())
        root.addHandler(handler)
    root.setLevel(min(logging.getLevelName(level), logging.INFO) if also_stderr else level)
    return where

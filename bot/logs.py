"""Logging, configured once at start-up, with secrets blotted out of every line.

Libraries log URLs at DEBUG, and Bot API URLs carry the bot token (``/bot<token>/getMe``), so
redaction happens in the formatter: whatever a library writes, the token never reaches a log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats records as usual, then replaces each secret with ``[redacted]``."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at ``level``; quiet chatty libraries; never print a secret."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, secrets))
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
                also_stderr: bool = False) -> str:
    """Send every log line to ``path`` (appended) instead of the terminal; returns where.

    For the terminal chat and ``kratos ask``: a warning printed between two answers reads as
    part of the conversation. With ``also_stderr`` (``ask --verbose``) INFO and above also go
    to stderr, whatever ``level`` the file keeps. When the file cannot be opened, only errors
    reach stderr and the result says so.
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
        root.addHandler(handler)
    root.setLevel(min(logging.getLevelName(level), logging.INFO) if also_stderr else level)
    return where

"""The terminal transports: `kratos console` (an interactive chat) and `kratos ask` (one answer).

Both call the same core as the Telegram bot. The local user is id 0 unless ``--user`` says
otherwise, so `kratos ask --user 42 ...` continues Telegram user 42's private conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from pathlib import Path

from bot.assistant import answer, reset_conversation
from bot.context import AppContext, build_context
from bot.logs import quiet_for_terminal
from bot.reply import Conversation
from bot.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_USER_ID = 0
HISTORY_FILE = ".console_history"
GREETING = (
    "KRATOS — pregúntame por los productos de la tienda (escribe /reset para empezar de nuevo, "
    "/salir para terminar).\nEjemplos: «¿cuál es el producto más caro?», «cinco productos "
    "baratos», «dame laptops».\n"
)


def ask_command(settings: Settings, question: str, *, user_id: int | None = None) -> int:
    """Print one answer; exit 1 when it was refused or failed."""
    quiet_for_terminal(settings.log_level)

    async def run() -> int:
        app = await build_context(settings)
        try:
            reply = await answer(app, Conversation.private(user_id or LOCAL_USER_ID), question)
        finally:
            await app.close()
        print(reply.text)
        return 1 if reply.failed or reply.refused else 0

    return asyncio.run(run())


async def _spinner(stream=sys.stderr) -> None:
    """A visible sign that the assistant is working, erased when the answer arrives."""
    try:
        for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
            stream.write(f"\r{frame} pensando…")
            stream.flush()
            await asyncio.sleep(0.1)
    finally:
        stream.write("\r" + " " * 14 + "\r")
        stream.flush()


def _enable_history(path: Path) -> None:
    try:
        import readline
    except ImportError:  # not available on every platform; the chat works without it
        return
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)
    import atexit
    atexit.register(lambda: contextlib.suppress(OSError) and readline.write_history_file(path))


async def chat(app: AppContext, conversation: Conversation) -> None:
    """Read questions until end of input or /salir, printing each answer."""
    print(GREETING)
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = await asyncio.to_thread(input, "tú › ")
        except EOFError:
            print()
            return
        question = line.strip()
        if not question:
            continue
        if question.lower() in ("/salir", "/exit", "/quit"):
            return
        if question.lower() == "/reset":
            await reset_conversation(app, conversation)
            print("Listo, empecemos de nuevo.\n")
            continue
        spinner = asyncio.create_task(_spinner()) if interactive else None
        try:
            reply = await answer(app, conversation, question)
        finally:
            if spinner is not None:
                spinner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await spinner
        print(f"kratos › {reply.text}\n")


def console_command(settings: Settings) -> int:
    """`kratos console`: an interactive chat on the same core as the bot."""
    quiet_for_terminal(settings.log_level)
    _enable_history(settings.state_db.parent / HISTORY_FILE)

    async def run() -> int:
        app = await build_context(settings)
        try:
            await chat(app, Conversation.private(LOCAL_USER_ID))
        finally:
            await app.close()
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        print()
        return 0

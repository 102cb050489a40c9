"""The terminal transports: `kratos console` (an interactive chat) and `kratos ask` (one answer).

Both call the same core as the Telegram bot. The console talks as local user 0; `kratos ask`
has a conversation of its own, so one-off questions never continue the console's chat, unless
``--user`` names a user: `kratos ask --user 42 ...` continues Telegram user 42's private
conversation (and ``--user 0`` the console's). Logs go to a file beside STATE_DB, never between
the lines of a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from pathlib import Path

from bot.catalog.importer import notes_mistakes
from bot.channels.banner import describe
from bot.core.assistant import answer, reset_conversation
from bot.core.capabilities import catalog_examples
from bot.core.context import AppContext, build_context
from bot.core.reply import Conversation
from bot.logs import close_log_files, log_to_file
from bot.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_USER_ID = 0
#: `kratos ask`'s own conversation (the console's is ``u:0``).
ASK_CONVERSATION = Conversation(key="ask", user_id=LOCAL_USER_ID, chat_id=None)
HISTORY_FILE = ".console_history"
LOG_FILE = "kratos.log"
RESET_WORDS = ("/reset", "/nuevo", "/new")
QUIT_WORDS = ("/salir", "/exit", "/quit")
RESET_DONE = "Listo, empecemos de nuevo."
GREETING = (
    "KRATOS — pregúntame por los productos de la tienda (escribe /reset para empezar de nuevo, "
    "/salir o Ctrl-C para terminar).\nEjemplos: {examples}.\n"
)


def _terminal_logs(settings: Settings, *, verbose: bool = False) -> str:
    """Logs of a terminal command go to ``kratos.log`` beside STATE_DB; returns where."""
    return log_to_file(settings.state_db.parent / LOG_FILE, settings.log_level,
                       settings.secrets(), also_stderr=verbose,
                       log_messages=settings.log_messages)


async def _announce(app: AppContext, *, channels: str, logs: str,
                    printed: bool = True) -> None:
    """Log the start-up banner and, when ``printed``, show it on stderr before any chat."""
    banner = await describe(app, channels=channels, logs=logs)
    if printed:
        print(banner + "\n", file=sys.stderr)
    logger.info("%s", banner)


def _warn_about_notes(settings: Settings) -> None:
    """One line on stderr for each role correction in the catalog notes that names a column
    the catalog lacks: the log file says it too, but the owner reads the terminal."""
    for mistake in notes_mistakes(settings.catalog_db, settings.notes_path):
        print(f"kratos: {mistake}", file=sys.stderr)


def is_reset(text: str) -> bool:
    """Whether a line asks to forget the conversation (``/reset``, ``/nuevo``, ``/new``)."""
    return text.strip().lower() in RESET_WORDS


def ask_command(settings: Settings, question: str | None, *, user_id: int | None = None,
                reset: bool = False, verbose: bool = False) -> int:
    """Print one answer; exit 1 when it was refused or failed.

    ``reset`` (``--reset``/``--new``) forgets the conversation first; with no question that is
    all it does. A question of ``/reset`` does the same.
    """
    if question is None and not reset:
        print("kratos: escribe la pregunta entre comillas, o usa --reset para olvidar la "
              "conversación.", file=sys.stderr)
        return 2
    logs = _terminal_logs(settings, verbose=verbose)
    _warn_about_notes(settings)
    conversation = Conversation.private(user_id) if user_id is not None else ASK_CONVERSATION
    forget = reset or (question is not None and is_reset(question))
    ask = None if question is None or is_reset(question) else question

    async def run() -> int:
        app = await build_context(settings)
        try:
            if verbose:
                # The log lines themselves reach stderr: logged, not printed too.
                await _announce(app, channels="kratos ask", logs=logs, printed=False)
            if forget:
                await reset_conversation(app, conversation)
                if ask is None:
                    print(RESET_DONE)
                    return 0
            reply = await answer(app, conversation, ask or "")
        finally:
            await app.close()
        print(reply.text)
        return 1 if reply.failed or reply.refused else 0

    try:
        return asyncio.run(run())
    finally:
        close_log_files()


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

    def save() -> None:
        # A folder that cannot be written costs the history, never a traceback on the way out.
        with contextlib.suppress(OSError):
            readline.write_history_file(path)

    import atexit
    atexit.register(save)


async def _answer_showing_work(app: AppContext, conversation: Conversation, question: str,
                               interactive: bool) -> str:
    """The reply's text, with the spinner running meanwhile on a terminal."""
    spinner = asyncio.create_task(_spinner()) if interactive else None
    try:
        reply = await answer(app, conversation, question)
    finally:
        if spinner is not None:
            spinner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await spinner
    return reply.text


def chat(runner: asyncio.Runner, app: AppContext, conversation: Conversation) -> None:
    """Read questions until end of input or /salir, printing each answer.

    Lines are read in the main thread, outside the event loop, so Ctrl-C stops the chat at
    once (a KeyboardInterrupt from ``input``, or from ``runner.run`` mid-answer).
    """
    examples = runner.run(catalog_examples(app.catalog, "es", app.roles))
    print(GREETING.format(examples=", ".join(f"«{e}»" for e in examples)))
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("tú › ")
        except EOFError:
            print()
            return
        question = line.strip()
        if not question:
            continue
        if question.lower() in QUIT_WORDS:
            return
        if is_reset(question):
            runner.run(reset_conversation(app, conversation))
            print(f"{RESET_DONE}\n")
            continue
        # A re-imported or replaced catalog is picked up before the next answer.
        runner.run(app.reload_catalog_if_changed())
        text = runner.run(_answer_showing_work(app, conversation, question, interactive))
        print(f"kratos › {text}\n")


def console_command(settings: Settings, *, channels: str = "terminal console") -> int:
    """`kratos console`: an interactive chat on the same core as the bot; Ctrl-C quits."""
    logs = _terminal_logs(settings)
    _enable_history(settings.state_db.parent / HISTORY_FILE)
    try:
        with asyncio.Runner() as runner:
            app = runner.run(build_context(settings))
            try:
                runner.run(_announce(app, channels=channels, logs=logs))
                _warn_about_notes(settings)
                chat(runner, app, conversation=Conversation.private(LOCAL_USER_ID))
            except KeyboardInterrupt:
                print()
            finally:
                runner.run(app.close())
    except KeyboardInterrupt:
        # Ctrl-C while the databases were opening: nothing is open yet to close.
        print()
    finally:
        close_log_files()
    return 0

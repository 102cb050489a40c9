"""The map of KRATOS: parse the command, load settings, hand over to the module that owns it.

``kratos COMMAND`` and ``python -m bot COMMAND`` are the same. Exit codes: 0 success, 1 a refused
or failed request, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bot.errors import KratosError, UserFacingError, os_reason
from bot.logs import configure_logging
from bot.settings import Settings

COMMANDS_HELP = {
    "run": "Serve every configured channel: Telegram (polling, or a webhook when WEBHOOK_URL "
           "is set) and WhatsApp (a webhook).",
    "console": "Chat with the assistant in this terminal.",
    "ask": "Ask one question and print the answer.",
    "sql": "Run one read-only SELECT on the catalog through the SQL guard and print a table.",
    "seed": "Create the demo catalog (500 products by default) if it does not exist.",
    "migrate": "Apply pending database migrations.",
    "transcribe": "Transcribe an audio or video file and print the text.",
    "eval": "Measure answer quality on a question set.",
    "import": "Load a store's product file (CSV, TSV, XLSX, JSON, JSON Lines) as the catalog.",
}


#: argparse's own refusals (Python 3.11 wording) -> the same in Spanish; {0} is what it names.
_USAGE_ERRORS = (
    (re.compile(r"the following arguments are required: (.+)"), "falta el argumento {0}"),
    (re.compile(r"unrecognized arguments: (.+)"), "no conozco estos argumentos: {0}"),
    (re.compile(r"argument (\S+?): invalid int value: (.+)"), "{0} debe ser un número entero; "
                                                              "recibí {1}"),
    (re.compile(r"argument (\S+?): invalid choice: (.+?) \(choose from (.+)\)"),
     "{0} debe ser uno de: {2}; recibí {1}"),
    (re.compile(r"argument (\S+?): expected one argument"), "{0} necesita un valor"),
    (re.compile(r"argument (\S+?): (.+)"), "{0}: {1}"),
    (re.compile(r"ambiguous option: (\S+) could match (.+)"), "{0} puede ser {1}"),
)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors said in one Spanish sentence (exit 2, as argparse's)."""

    def error(self, message: str) -> NoReturn:
        for pattern, spanish in _USAGE_ERRORS:
            match = pattern.fullmatch(message)
            if match:
                message = spanish.format(*match.groups())
                break
        self.exit(2, f"kratos: {message} (`{self.prog} --help` explica cada opción).\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kratos",
        description="KRATOS: a store assistant that answers product-catalog questions.",
    )
    parser.add_argument("--env-file", default=None,
                        help="Settings file (default: .env when it exists; it must exist when "
                             "named here).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=COMMANDS_HELP[name], description=COMMANDS_HELP[name])

    run = command("run")
    run.add_argument(
        "--console-fallback", action="store_true",
        help="Start the terminal console instead when no channel (TELEGRAM_BOT_TOKEN, "
             "WHATSAPP_ACCESS_TOKEN) is set.",
    )
    command("console")
    ask = command("ask")
    ask.add_argument("question", nargs="?", default=None, type=_terminal_text,
                     help="The question, in quotes (/reset forgets the conversation).")
    ask.add_argument("--user", type=_user_id, default=None,
                     help="Continue this Telegram user's private conversation (0: the "
                          "console's); by default `kratos ask` keeps a conversation of its own.")
    ask.add_argument("--reset", "--new", dest="reset", action="store_true",
                     help="Forget the conversation first (alone: just forget it).")
    ask.add_argument("--verbose", action="store_true",
                     help="Print the start-up banner and the logs on stderr.")
    sql = command("sql")
    sql.add_argument("statement", type=_terminal_text, help="One SELECT statement, in quotes.")
    seed = command("seed")
    seed.add_argument("--count", type=int, default=500, help="Number of products (default 500).")
    seed.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
    seed.add_argument("--force", action="store_true", help="Rebuild an existing demo catalog.")
    command("migrate")
    transcribe = command("transcribe")
    transcribe.add_argument("file", help="Audio or video file, or an http(s) link to one.")
    evaluate = command("eval")
    evaluate.add_argument("file", type=Path, nargs="?", default=None,
                          help="Question set (default: the shipped one).")
    evaluate.add_argument("--engine", choices=("model", "basic"), default="basic",
                          help="Which engine answers (default: basic).")
    evaluate.add_argument("--json", dest="json_out", type=Path, default=None,
                          help="Also write the results as JSON to this file.")
    evaluate.add_argument("--min-accuracy", type=_fraction, default=None, metavar="X",
                          help="Exit 1 when the share of questions passed is below X "
                               "(0 to 1, e.g. 0.9).")
    importing = command("import")
    importing.add_argument("file", type=Path, help="The store's product file.")
    importing.add_argument("--output", type=Path, default=None,
                           help="Catalog to write (default: CATALOG_DB).")
    importing.add_argument("--sheet", default=None, help="XLSX sheet (default: the first).")
    return parser


def _fraction(raw: str) -> float:
    """A share from 0 to 1 (``--min-accuracy``); anything else is a usage error (exit 2)."""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"debe ser un número de 0 a 1; recibí {raw!r}")
    return value


#: Telegram user ids are positive and below 2**52 today; anything past SQLite's 64-bit
#: integers cannot be stored at all.
_MAX_USER_ID = 2 ** 63 - 1


def _user_id(raw: str) -> int:
    """A user id for ``ask --user`` (0 is the console's); anything else is a usage error."""
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= _MAX_USER_ID:
        raise argparse.ArgumentTypeError(f"debe ser un id de usuario de Telegram (un número "
                                         f"entero de 0 a {_MAX_USER_ID}); recibí {raw[:40]!r}")
    return value


def _terminal_text(raw: str) -> str:
    """A text argument as the terminal meant it.

    Python hands bytes of an argument that are not UTF-8 over as lone surrogates
    (``surrogateescape``), which no database or HTTP body can encode. Such an argument was most
    likely typed in a Windows-1252 (Latin-1) terminal: read it that way, as ``kratos import``
    reads such files; bytes Windows-1252 does not define become U+FFFD.
    """
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        data = raw.encode("utf-8", "surrogateescape")
        return data.decode("cp1252", "replace")
    return raw


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run one command; each lives in the module that owns its concern."""
    if args.command == "run":
        from bot.channels.run import run_command
        return run_command(settings, console_fallback=args.console_fallback)
    if args.command == "console":
        from bot.channels.console import console_command
        return console_command(settings)
    if args.command == "ask":
        from bot.channels.console import ask_command
        return ask_command(settings, args.question, user_id=args.user, reset=args.reset,
                           verbose=args.verbose)
    if args.command == "sql":
        from bot.catalog.reader import sql_command
        return sql_command(settings, args.statement)
    if args.command == "seed":
        from bot.catalog.seed import seed_command
        return seed_command(settings, count=args.count, seed=args.seed, force=args.force)
    if args.command == "migrate":
        from bot.core.state import migrate_command
        return migrate_command(settings)
    if args.command == "transcribe":
        from bot.audio.speech import transcribe_command
        return transcribe_command(settings, args.file)
    if args.command == "eval":
        from bot.core.evaluation import eval_command
        return eval_command(settings, args.file, engine=args.engine, json_out=args.json_out,
                            min_accuracy=args.min_accuracy)
    if args.command == "import":
        from bot.catalog.importer import import_command
        return import_command(settings, args.file, output=args.output, sheet=args.sheet)
    raise AssertionError(f"unknown command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(args.env_file)
        configure_logging(settings.log_level, settings.secrets(),
                          log_messages=settings.log_messages)
        return dispatch(args, settings)
    except KratosError as error:
        # A refusal worded for chat users carries its Spanish: the command line's language.
        said = error.user_message("es") if isinstance(error, UserFacingError) else str(error)
        print(f"kratos: {said}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`kratos ask ... | head -1`): say nothing more, to nobody.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        if error.filename is None:
            raise
        # A folder or file the command needs cannot be created or opened (a read-only mount,
        # a folder the user does not own): one sentence, not a traceback.
        print(f"kratos: no puedo usar {error.filename} ({os_reason(error)}): revisa que su "
              "carpeta exista y que este usuario pueda escribir ahí (CATALOG_DB, STATE_DB).",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

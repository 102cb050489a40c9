"""The package's arrows point inward: channels import the core, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
#: Modules that are channels (or pick one), for now outside bot/channels/: these and telegram_*.
CHANNEL_MODULES = {"__main__", "console"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_core_imports_no_channel() -> None:
    core = [p for p in BOT.glob("*.py")
            if p.stem not in CHANNEL_MODULES and not p.stem.startswith("telegram_")]
    assert {p.stem for p in core} >= {"assistant", "context", "memory", "recordings", "speech"}
    for path in core:
        channels = {name for name in imported_modules(path)
                    if name.startswith(("bot.channels", "bot.telegram", "telegram", "pywa"))}
        assert channels == set(), f"{path.name} imports {sorted(channels)}"


def test_whatsapp_imports_no_telegram_adapter() -> None:
    for path in (BOT / "channels" / "whatsapp").glob("*.py"):
        adapters = {name for name in imported_modules(path)
                    if name.startswith(("bot.telegram_bot", "bot.telegram_voice", "telegram"))}
        assert adapters == set(), f"{path.name} imports {sorted(adapters)}"

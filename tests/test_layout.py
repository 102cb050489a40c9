"""The package shows its parts, and its arrows point inward.

``bot`` is a few shared modules (settings, errors, logs, migrations, the event loop) under four
parts: the catalog, the assistant core, audio and the channels. A part imports only itself and
the parts before it (catalog, core, audio, channels), each channel only itself and what every
channel shares, and no module imports itself back through others. The imports are read from the
source (every ``import``, also those inside functions), so a lazy import cannot hide an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
#: The modules at the top of ``bot``: what every part uses, and the command map.
SHARED = {"settings", "errors", "logs", "eventloop", "migrations"}
#: The parts in order: each may import the ones before it, never the ones after.
PARTS = ("shared", "catalog", "core", "audio", "channels", "__main__")
#: The channels: each imports no other; ``bot.channels.run`` starts them all.
CHANNELS = ("bot.channels.telegram", "bot.channels.whatsapp", "bot.channels.console")
#: Third-party libraries that belong to one channel.
CHANNEL_LIBRARIES = {"telegram": "bot.channels.telegram", "pywa": "bot.channels.whatsapp",
                     "pywa_async": "bot.channels.whatsapp"}


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in BOT.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module an ``import`` in ``path`` names, at any depth (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def bot_imports(module: str) -> set[str]:
    """The modules of ``bot`` that ``module`` imports (``from bot import x`` counts as bot.x)."""
    return {name for name in imports_of(MODULES[module]) if name in MODULES and name != "bot"}


def part_of(module: str) -> str:
    top = module.split(".")[1] if "." in module else module
    return top if top in PARTS else "shared"


def channel_of(module: str) -> str | None:
    return next((c for c in CHANNELS if module == c or module.startswith(c + ".")), None)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> Iterator[None]:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                yield from visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            for _ in visit(node):
                pass
    return found


def test_the_top_of_the_package_is_the_shared_modules_and_the_parts() -> None:
    top = {p.stem for p in BOT.glob("*.py")} - {"__init__", "__main__"}
    packages = {p.name for p in BOT.iterdir() if (p / "__init__.py").exists()}
    assert top == SHARED
    assert packages == {"catalog", "core", "audio", "channels"}
    assert {m.split(".")[2] for m in MODULES if m.startswith("bot.channels.")} >= {
        "telegram", "whatsapp", "console", "run", "web"}


def test_no_import_cycle_inside_bot() -> None:
    graph = {module: bot_imports(module) for module in MODULES}
    assert cycles(graph) == []
    # the graph holds the arrows a cycle would need: the Application's module imports the
    # handler modules, which import the handlers' shared steps
    assert graph["bot.channels.telegram.app"] >= {"bot.channels.telegram.bot",
                                                  "bot.channels.telegram.voice"}
    assert "bot.channels.telegram.bot" in graph["bot.channels.telegram.voice"]


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_part_imports_only_the_parts_before_it(module: str) -> None:
    rank = PARTS.index(part_of(module))
    later = {name for name in bot_imports(module) if PARTS.index(part_of(name)) > rank}
    assert later == set(), f"{module} ({part_of(module)}) imports {sorted(later)}"


#: ``kratos run`` starts every channel: the one module that knows them all.
STARTER = "bot.channels.run"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in ("bot.__main__", STARTER)))
def test_channel_libraries_stay_in_their_channel(module: str) -> None:
    wrong = {name for name in imports_of(MODULES[module])
             if name.split(".")[0] in CHANNEL_LIBRARIES
             and channel_of(module) != CHANNEL_LIBRARIES[name.split(".")[0]]}
    assert wrong == set(), f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if part_of(m) == "channels" and m != STARTER))
def test_no_channel_imports_another(module: str) -> None:
    own = channel_of(module)
    others = {name for name in bot_imports(module)
              if channel_of(name) is not None and channel_of(name) != own}
    assert others == set(), f"{module} imports {sorted(others)}"

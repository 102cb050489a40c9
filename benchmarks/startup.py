"""Figure 8: how long a one-off command takes, start to finish: `kratos ask` in basic mode.

Each run is a fresh process, timed from start to exit by wall clock, as a person at a terminal
waits for it (hyperfine's method: warm-up runs first, then many runs; the file cache is warm),
and by the CPU time it used (user + system, from ``getrusage``). The command does its work on
one thread, so on an idle core its wall time is its CPU time plus a few milliseconds of I/O;
on a shared machine the wall time also counts the waits for a core, which is why the goal
("under 0.5 s on a quiet machine") is judged on the CPU time and both are shown.
The same question is asked every run, on the 500-product demo catalog, with a state database
that already exists. For scale: the interpreter alone (`python -c pass`), and importing the
modules `kratos ask` needs (`python -c "import bot.channels.console"`). The modules a run imports
are listed with ``-X importtime``: basic mode must not import the OpenAI SDK.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence

from benchmarks.common import Figure, Metric, bench_env, ensure_catalog, load_average, scratch

NAME = "startup"
TITLE = "8. Command start-up"
GOAL_S = 0.5
QUESTION = "¿cuál es la laptop más barata?"
WARMUP = 3


def _timed(command: Sequence[str], env: dict[str, str], runs: int
           ) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``runs`` runs of ``command`` (after the warm-up runs)."""
    wall, cpu = [], []
    for index in range(WARMUP + runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if index >= WARMUP:
            wall.append(elapsed)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


def _imported(command: Sequence[str], env: dict[str, str]) -> tuple[dict[str, float], set[str]]:
    """What one run imports: seconds per top-level import, and every module's name."""
    done = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], env=env,
                          check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    packages: dict[str, float] = {}
    modules: set[str] = set()
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if not found:
            continue
        modules.add(found.group(3))
        if not found.group(2):  # imported at top level, not by another module
            name = found.group(3).split(".")[0]
            packages[name] = packages.get(name, 0.0) + int(found.group(1)) / 1e6
    return packages, modules


def run(quick: bool = False) -> Figure:
    runs = 5 if quick else 20
    catalog, _ = ensure_catalog(500)
    folder = scratch("startup")
    env = bench_env(CATALOG_DB=str(catalog), STATE_DB=str(folder / "state.db"),
                    LOG_LEVEL="INFO")
    ask = [sys.executable, "-m", "bot", "--env-file", os.devnull, "ask", QUESTION]
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    subprocess.run(ask, env=env, check=True, stdout=subprocess.DEVNULL)  # creates the state DB
    asked, asked_cpu = _timed(ask, env, runs)
    bare, _ = _timed([sys.executable, "-c", "pass"], env, runs)
    imports, imports_cpu = _timed([sys.executable, "-c", "import bot.channels.console"], env, runs)
    packages, modules = _imported(ask, env)
    sdk = any(name == "openai" or name.startswith("openai.") for name in modules)
    figure.details["load_average_after"] = load_average()
    figure.details["imported_packages_s"] = {k: round(v, 4) for k, v in sorted(
        packages.items(), key=lambda item: -item[1])[:12]}
    goal = f"< {GOAL_S} s"
    figure.metrics += [
        Metric("`kratos ask` in basic mode, CPU time (= wall on an idle core)", "s", asked_cpu,
               goal=goal, met=sorted(asked_cpu)[len(asked_cpu) // 2] < GOAL_S),
        Metric("`kratos ask` in basic mode, wall on this machine now", "s", asked),
        Metric("`python -c pass` (the interpreter alone), wall", "s", bare),
        Metric("`python -c 'import bot.channels.console'`, CPU time", "s", imports_cpu),
        Metric("`python -c 'import bot.channels.console'`, wall", "s", imports),
        Metric("OpenAI SDK imported by `kratos ask` in basic mode", "yes=1", [float(sdk)],
               goal="0", met=not sdk),
    ]
    figure.notes.append(
        f"{runs} runs of each command after {WARMUP} warm-up runs, each a new process; "
        f"question {QUESTION!r} on the 500-product demo catalog, no model configured.")
    return figure

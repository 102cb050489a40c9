"""What every figure shares: statistics, the result shape, scratch space, catalogs, the machine."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TMP = ROOT / "benchmarks" / "tmp"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(share * n)), as ``kratos eval`` uses."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of one figure's runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


@dataclass
class Metric:
    """One row of the results table: a value measured once per run."""

    label: str
    unit: str
    runs: list[float]
    goal: str = ""
    met: bool | None = None  # None: the row has no goal of its own
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "unit": self.unit, **spread(self.runs),
                "values": [round(v, 4) for v in self.runs], "goal": self.goal, "met": self.met,
                "note": self.note}


@dataclass
class Figure:
    """One numbered figure of the issue: its rows, what it ran on, and free-form details."""

    name: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "done"  # or "pending" (could not run here), "failed"
    seconds: float = 0.0
    ran_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "status": self.status,
                "ran_at": self.ran_at, "seconds": round(self.seconds, 1),
                "metrics": [m.to_json() for m in self.metrics], "notes": self.notes,
                "details": self.details}


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> dict[str, Any]:
    """What the numbers ran on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def load_average() -> float:
    """The one-minute load average: above ~1 on two cores, someone else is using a core."""
    return round(os.getloadavg()[0], 2)


# -- scratch space and catalogs ---------------------------------------------------------------


def scratch(prefix: str) -> Path:
    """A new folder under benchmarks/tmp (git-ignored) for one run's databases and files."""
    TMP.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=TMP))


def product_count(path: Path) -> int | None:
    """Rows in a catalog's products table, or None when the file is not a usable catalog."""
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM products").fetchone()[0])
    except sqlite3.Error:
        return None


def bench_env(**values: str) -> dict[str, str]:
    """This process's environment without any KRATOS setting, plus ``values``.

    A developer's own TELEGRAM_*/OPENAI_* variables must never leak into a benchmark run.
    """
    names = {spec.name.upper() for spec in dataclasses.fields(Settings)}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(values)
    return env


def ensure_catalog(count: int, seed: int = 42) -> tuple[Path, float | None]:
    """The demo catalog of ``count`` products, seeded with ``kratos seed --count`` once.

    Returns the path and the seconds seeding took (None when a catalog already there was reused).
    """
    path = TMP / f"catalog-{count}-seed{seed}.db"
    if product_count(path) == count:
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "seed", "--count", str(count),
         "--seed", str(seed), "--force"],
        env=bench_env(CATALOG_DB=str(path), LOG_LEVEL="WARNING"), cwd=TMP, check=True,
        stdout=subprocess.DEVNULL,
    )
    return path, time.perf_counter() - started


# -- processes ----------------------------------------------------------------------------------


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(rest.split()[0]) / 1024
    return found


def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a whole process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (threads of the same name added up)."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            key = "main (event loop)" if task.name == str(pid) else name
            totals[key] = totals.get(key, 0.0) + seconds
    return totals


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@contextlib.contextmanager
def pinned(cpus: set[int]) -> Iterator[None]:
    """Run this process on ``cpus`` for a while (the fakes then stay off the bot's core)."""
    before = os.sched_getaffinity(0)
    usable = cpus & before
    if usable:
        os.sched_setaffinity(0, usable)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


#: The cores this benchmark run was given (all of them, or what ``taskset`` left it), read once
#: at start. Read later, from inside ``pinned(others)``, the process's own affinity is the
#: fakes' core alone: the bot then found "one core", was not pinned, and inherited the fakes'
#: core, so bot and fakes took turns on one core while the other stayed idle.
RUN_CORES: frozenset[int] = frozenset(os.sched_getaffinity(0))


def split_cores() -> tuple[int | None, set[int]]:
    """The core for the bot and the cores for the benchmark's own fake servers.

    With two or more cores the bot gets the first one alone and the fakes the rest, so "on one
    core" is literal and the fakes never take the bot's CPU. With one core, nothing is pinned.
    The split is of ``RUN_CORES``, so it is the same wherever it is asked for.
    """
    cores = sorted(RUN_CORES)
    if len(cores) < 2:
        return None, set(cores)
    return cores[0], set(cores[1:])


def ms(seconds: float) -> float:
    return seconds * 1000.0

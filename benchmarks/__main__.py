"""``python -m benchmarks [--only NAME ...] [--quick]``: run the figures, print a table, save JSON.

``--markdown`` prints the saved results as the Markdown table BENCHMARKS.md shows.

Results go to benchmarks/results.json. With ``--only``, the figures not run keep their last
results there, each with its own date. ``--quick`` is a smoke run (fewer, smaller runs) whose
numbers are not comparable with a full run's; it writes to benchmarks/tmp/results-quick.json
(git-ignored) unless ``--output`` says otherwise. BENCHMARKS.md explains every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import (
    audio_health,
    audio_speed,
    catalog_scale,
    concurrency,
    import_speed,
    memory,
    overhead,
    prompt_cost,
    runaway,
    startup,
    streaming,
)
from benchmarks.common import TMP, Figure, machine, now_utc

FIGURES: dict[str, ModuleType] = {module.NAME: module for module in (
    overhead, concurrency, audio_health, audio_speed, catalog_scale, prompt_cost, memory,
    startup, runaway, streaming, import_speed)}
RESULTS = Path(__file__).resolve().parent / "results.json"
QUICK_RESULTS = TMP / "results-quick.json"


def _number(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Sequence[dict[str, Any]]) -> str:
    """The results as an aligned text table."""
    rows = [("figure", "metric", "unit", "median", "min", "max", "goal", "met")]
    for figure in figures:
        if figure["status"] not in ("done", "partial"):
            rows.append((figure["title"], figure["status"], "", "", "", "", "", ""))
            continue
        for metric in figure["metrics"]:
            met = {True: "yes", False: "NO", None: ""}[metric["met"]]
            rows.append((figure["title"], metric["label"], metric["unit"],
                         _number(metric["median"]), _number(metric["min"]),
                         _number(metric["max"]), metric["goal"], met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = {3, 4, 5}
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(width) if i in numeric else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown(figures: Sequence[dict[str, Any]]) -> str:
    """The results as a Markdown table, for BENCHMARKS.md."""
    lines = ["| Figure | Metric | Unit | Median | Min | Max | Goal | Met |",
             "|---|---|---|--:|--:|--:|---|---|"]
    for figure in figures:
        if figure["status"] not in ("done", "partial"):
            lines.append(f"| {figure['title']} | {figure['status']} | | | | | | |")
            continue
        for metric in figure["metrics"]:
            met = {True: "yes", False: "**no**", None: ""}[metric["met"]]
            label = metric["label"].strip().replace("|", "/")
            lines.append(f"| {figure['title']} | {label} | {metric['unit']} | "
                         f"{_number(metric['median'])} | {_number(metric['min'])} | "
                         f"{_number(metric['max'])} | {metric['goal']} | {met} |")
    return "\n".join(lines)


def _run_one(name: str, run: Callable[[bool], Figure], quick: bool) -> Figure:
    started = time.perf_counter()
    try:
        figure = run(quick)
    except Exception:
        # One broken figure must not cost the others their results.
        figure = Figure(name, FIGURES[name].TITLE, status="failed",
                        notes=[traceback.format_exc()])
        traceback.print_exc()
    figure.seconds = time.perf_counter() - started
    figure.ran_at = now_utc()
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), metavar="NAME",
                        help=f"Run only these figures ({', '.join(FIGURES)}).")
    parser.add_argument("--quick", action="store_true",
                        help="A smoke run: fewer and smaller runs (under two minutes).")
    parser.add_argument("--output", type=Path, default=None,
                        help="Where to write the JSON (default benchmarks/results.json, or "
                             "benchmarks/tmp/results-quick.json with --quick).")
    parser.add_argument("--markdown", action="store_true",
                        help="Print the saved results as a Markdown table and run nothing.")
    args = parser.parse_args(argv)
    if args.markdown:
        saved = json.loads((args.output or RESULTS).read_text(encoding="utf-8"))
        print(markdown([saved["figures"][name] for name in FIGURES
                        if name in saved["figures"]]))
        return 0
    # The fake servers log every dropped long poll when a bot stops; that is expected noise.
    logging.basicConfig(level=logging.CRITICAL)
    output = args.output or (QUICK_RESULTS if args.quick else RESULTS)
    names = args.only or list(FIGURES)

    previous: dict[str, Any] = {}
    if output.is_file():
        try:
            previous = json.loads(output.read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    figures: dict[str, Any] = dict(previous.get("figures", {}))
    started = time.perf_counter()
    for name in names:
        print(f"running {FIGURES[name].TITLE} ...", file=sys.stderr, flush=True)
        figure = _run_one(name, FIGURES[name].run, args.quick)
        figures[name] = figure.to_json()
        print(f"  {figure.status} in {figure.seconds:.0f} s", file=sys.stderr, flush=True)

    ordered = [figures[name] for name in FIGURES if name in figures]
    result = {"ran_at": now_utc(), "quick": args.quick, "machine": machine(),
              "seconds": round(time.perf_counter() - started, 1),
              "figures": {figure["name"]: figure for figure in ordered}}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(table(ordered))
    info = result["machine"]
    print(f"\n{info['nproc']} x {info['cpu_model']}, Python {info['python']}, "
          f"load average {info['load_average']}; wrote {output}")
    return 1 if any(f["status"] == "failed" for f in ordered) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Progress of long command-line jobs (an import, a large demo catalog).

On a terminal, a tqdm bar on stderr; otherwise (a log file, a pipe, CI) a plain line at each
tenth of the way, so the output stays readable; a job done within ``QUIET_SECONDS`` prints no
lines at all.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

QUIET_SECONDS = 2.0


class Progress:
    """Counts work done out of ``total`` (``None`` when unknown) in ``unit`` (e.g. "filas")."""

    def __init__(self, label: str, total: int | None, unit: str, *,
                 stream: TextIO | None = None, enabled: bool = True) -> None:
        self._stream = stream or sys.stderr
        self._label = label
        self._total = total
        self._unit = unit
        self._done = 0
        self._next_tenth = 1
        self._enabled = enabled
        self._started = time.monotonic()
        self._bar = tqdm(total=total, unit=unit, desc=label, file=self._stream,
                         unit_scale=unit == "B", leave=False, dynamic_ncols=True) \
            if enabled and self._stream.isatty() else None

    def advance(self, amount: int) -> None:
        """Record ``amount`` more units done."""
        self._done += amount
        if self._bar is not None:
            self._bar.update(amount)
        elif self._enabled and self._total and \
                time.monotonic() - self._started >= QUIET_SECONDS:
            while self._next_tenth <= 10 and self._done * 10 >= self._total * self._next_tenth:
                print(f"{self._label}: {self._next_tenth * 10}%", file=self._stream, flush=True)
                self._next_tenth += 1

    def close(self) -> None:
        """Remove the bar (the caller prints its own summary)."""
        if self._bar is not None:
            self._bar.close()

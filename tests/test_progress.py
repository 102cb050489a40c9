"""Progress of long jobs: a tqdm bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from bot.catalog import progress as progress_module
from bot.catalog.progress import Progress
from bot.catalog.seed import seed_command


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar():
    stream = Terminal()
    bar = Progress("Importando", 1000, "filas", stream=stream)
    bar.advance(500)
    bar.advance(500)
    bar.close()
    # tqdm draws at most every 0.1 s: its first frame is there, and it is erased on close.
    assert "Importando:   0%|" in stream.getvalue() and "/1000 [" in stream.getvalue()


def test_a_pipe_gets_a_plain_line_per_tenth(monkeypatch):
    monkeypatch.setattr(progress_module, "QUIET_SECONDS", 0.0)
    stream = io.StringIO()
    bar = Progress("Importando", 1000, "filas", stream=stream)
    for _ in range(4):
        bar.advance(250)
    bar.close()
    assert stream.getvalue().splitlines() == [f"Importando: {n}%" for n in range(10, 101, 10)]


def test_a_quick_job_prints_nothing_on_a_pipe():
    stream = io.StringIO()
    bar = Progress("Importando", 10, "filas", stream=stream)
    bar.advance(10)
    bar.close()
    assert stream.getvalue() == ""


def test_seed_reports_progress(make_settings, monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "QUIET_SECONDS", 0.0)
    assert seed_command(make_settings(), count=300) == 0
    err = capsys.readouterr().err
    assert "Generando el catálogo: 100%" in err

"""Setting KRATOS up with odd input: a settings file that is a folder or not text, a demo
catalog no disk holds. One sentence and exit 2, never a traceback nor days of work."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main


@pytest.fixture
def state_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_db: Path) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.mark.parametrize(("kind", "expected"), [
    ("folder", "El archivo de ajustes {} es una carpeta: indica el archivo .env mismo."),
    ("binary", "No puedo leer el archivo de ajustes {}: no es texto UTF-8."),
    ("latin-1", "No puedo leer el archivo de ajustes {}: no es texto UTF-8."),
])
def test_a_settings_file_that_is_no_settings_file_stops_with_exit_2(
    kind: str, expected: str, tmp_path: Path, state_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_file = tmp_path / "settings.env"
    if kind == "folder":
        env_file.mkdir()
    elif kind == "binary":
        env_file.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    else:
        env_file.write_bytes("STORE_NAME=Ferretería Ñaña\n".encode("latin-1"))

    assert main(["--env-file", str(env_file), "ask", "hola"]) == 2
    assert capsys.readouterr().err == f"kratos: {expected.format(env_file)}\n"


def test_the_default_env_file_as_a_folder_stops_with_exit_2(
    tmp_path: Path, state_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").mkdir()

    assert main(["ask", "hola"]) == 2
    assert "El archivo de ajustes .env es una carpeta" in capsys.readouterr().err


@pytest.mark.parametrize("count", [10_000_001, 10 ** 12])
def test_seed_refuses_a_catalog_no_disk_holds(count: int, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CATALOG_DB", str(tmp_path / "catalog.db"))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))

    assert main(["--env-file", "/dev/null", "seed", "--count", str(count)]) == 2
    assert capsys.readouterr().err == (f"kratos: --count puede ser como mucho 10,000,000 (diez "
                                       f"veces el catálogo más grande medido); recibí "
                                       f"{count:,}.\n")
    assert not (tmp_path / "catalog.db").exists()

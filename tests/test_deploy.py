"""What an owner installs from: the package metadata, the Docker image's files, the entrypoint.

No Docker daemon runs here, so the image is checked by its parts: the Dockerfile's layout and
user, `.dockerignore`, `compose.yaml`, and the entrypoint script run as a non-root user on a
folder laid out like the image's (``/app`` with its ``data`` link, a ``/data`` volume).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_license_is_an_spdx_expression_setuptools_reads_without_warning():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # PEP 639: a plain SPDX string; the old table form is deprecated from setuptools 77.
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]


# -- the image, checked by its parts (no Docker daemon here) ----------------------------------

IMAGE_USER = 10001  # the Dockerfile's `useradd --uid`


def docker_env_file(path: Path) -> dict[str, str]:
    """A settings file read as `docker run --env-file` reads it: KEY=VALUE, literally."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


@dataclass
class ImageLayout:
    """The image's folders on this machine: /app (not the user's) with data -> /data."""

    app: Path
    volume: Path

    def run(self, *command: str, env_file: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """The entrypoint with ``command``, as the image's non-root user, with the image's
        environment and then ``env_file`` on top (as `docker run --env-file` does)."""
        env = {"PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin", "HOME": str(self.volume),
               "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
               # The Dockerfile's ENV, with this machine's stand-in for /data.
               "CATALOG_DB": str(self.volume / "catalog.db"),
               "STATE_DB": str(self.volume / "state.db"),
               **env_file}
        return subprocess.run(
            [*as_image_user(), "sh", str(ROOT / "docker" / "entrypoint.sh"), *command],
            cwd=self.app, env=env, capture_output=True, text=True, timeout=120)


def as_image_user() -> list[str]:
    """Run as the image's user when this is root; a non-root runner already is one.

    The user keeps one capability, reading and searching any folder, because this machine's
    Python lives under root's home; writing is checked as for any user, which is what these
    tests are about.
    """
    if os.geteuid() == 0:
        return ["setpriv", f"--reuid={IMAGE_USER}", f"--regid={IMAGE_USER}", "--clear-groups",
                "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return []


@pytest.fixture
def image() -> Iterator[ImageLayout]:
    # Outside pytest's tmp_path: its folders are private to the user running the tests.
    root = Path(tempfile.mkdtemp(prefix="kratos-image-"))
    root.chmod(0o755)
    app, volume = root / "app", root / "data"
    app.mkdir()
    volume.mkdir()
    (app / "data").symlink_to(volume)
    if os.geteuid() == 0:
        os.chown(volume, IMAGE_USER, IMAGE_USER)
    try:
        yield ImageLayout(app, volume)
    finally:
        volume.chmod(0o755)
        shutil.rmtree(root)


def test_documented_run_works_with_env_example_copied_as_is(image):
    done = image.run("kratos", "ask", "dame laptops",
                     env_file=docker_env_file(ROOT / ".env.example"))
    assert done.returncode == 0, done.stderr
    assert "Laptop" in done.stdout
    assert done.stderr == ""  # migrate and seed are quiet when they work
    assert {p.name for p in image.volume.iterdir()} >= {"catalog.db", "state.db", "kratos.log"}


def test_relative_paths_from_a_checkout_land_on_the_volume(image):
    # The .env.example of earlier releases set these; the image's data link keeps them working.
    env_file = {"CATALOG_DB": "data/catalog.db", "STATE_DB": "data/state.db"}
    done = image.run("kratos", "ask", "dame laptops", env_file=env_file)
    assert done.returncode == 0, done.stderr
    assert (image.volume / "catalog.db").is_file() and (image.volume / "state.db").is_file()
    assert not any(p.name != "data" for p in image.app.iterdir())


def test_a_volume_the_user_cannot_write_is_one_sentence(image):
    if os.geteuid() == 0:
        os.chown(image.volume, 0, 0)
    else:
        image.volume.chmod(0o555)
    done = image.run("kratos", "run", env_file=docker_env_file(ROOT / ".env.example"))
    assert done.returncode == 2
    assert done.stderr == (f"kratos: No puedo crear {image.volume / 'state.db'}: este usuario no "
                           f"puede escribir en {image.volume}; apunta STATE_DB o CATALOG_DB a "
                           "una carpeta donde pueda (en Docker, el volumen /data).\n")


@pytest.mark.parametrize("command", [
    ["migrate"], ["seed"], ["ask", "dame laptops"], ["console"], ["run", "--console-fallback"],
    ["sql", "SELECT 1"],
])
def test_a_path_outside_the_volume_is_one_sentence_in_every_command(image, command):
    env_file = {"STATE_DB": "/var/lib/kratos/state.db", "CATALOG_DB": "/opt/kratos/catalog.db"}
    done = subprocess.run(
        [*as_image_user(), sys.executable, "-m", "bot", "--env-file", os.devnull, *command],
        cwd=image.app, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env_file},
        input="", capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("kratos: "), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "/var/lib/kratos" in done.stderr or "/opt/kratos" in done.stderr


def test_dockerfile_runs_as_its_user_with_data_on_the_volume():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"useradd --create-home --uid {IMAGE_USER} kratos" in dockerfile
    assert "chown kratos:kratos /data" in dockerfile and "ln -s /data /app/data" in dockerfile
    assert "CATALOG_DB=/data/catalog.db" in dockerfile and "STATE_DB=/data/state.db" in dockerfile
    assert "USER kratos" in dockerfile and 'VOLUME ["/data"]' in dockerfile
    assert "COPY docker/entrypoint.sh /usr/local/bin/kratos-entrypoint" in dockerfile
    assert 'ENTRYPOINT ["kratos-entrypoint"]' in dockerfile
    # Every folder the image copies exists, and nothing it needs is left out by .dockerignore.
    copied = re.findall(r"^COPY (\S+)", dockerfile, flags=re.M)
    ignored = dockerignore()
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.split("/")[0] not in ignored, source


def dockerignore() -> set[str]:
    return {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def test_dockerignore_keeps_the_venv_data_and_secrets_out_of_the_build():
    ignored = dockerignore()
    assert {".venv", "data", ".env", ".env.*", "*.db", ".git"} <= ignored
    assert "!.env.example" in ignored


def test_compose_file_uses_the_volume_and_the_settings_file():
    compose = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert "env_file: .env" in compose
    assert "- kratos-data:/data" in compose
    assert re.search(r"^volumes:\n  kratos-data:", compose, flags=re.M)
    assert "build: ." in compose


def test_env_example_does_not_override_the_image_paths():
    values = docker_env_file(ROOT / ".env.example")
    assert "CATALOG_DB" not in values and "STATE_DB" not in values
    # What stays set must be accepted as it is.
    Settings.from_mapping(values)


# -- make run ----------------------------------------------------------------------------------

def test_make_run_is_quiet_and_clear(tmp_path):
    """`make run` after the install: a line for the demo catalog, the banner, the prompt.

    The install itself (pip, once) is not run here; its output goes to .venv/install.log.
    """
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, clone / name)
    bin_dir = clone / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "kratos").write_text(
        f'#!/bin/sh\nexec {sys.executable} -m bot "$@"\n', encoding="utf-8")
    (bin_dir / "kratos").chmod(0o755)
    (clone / ".venv" / ".installed").touch()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}

    done = subprocess.run(["make", "--no-print-directory", "run"], cwd=clone, env=env,
                          input="/salir\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    first = done.stdout.splitlines()
    assert re.fullmatch(r"Creé el catálogo de demostración: 500 productos en data/catalog\.db "
                        r"\(\d+\.\d s\)\.", first[0])
    assert "KRATOS is starting:" in first
    assert "  catalog:  data/catalog.db (products: 500 rows)" in first
    assert any(line.startswith("KRATOS — pregúntame") for line in first)
    assert len(first) <= 14, first

"""What an owner installs from: the package metadata, the Docker image's files, the entrypoint.

No Docker daemon runs here, so the image is checked by its parts: the Dockerfile's layout and
user, `.dockerignore`, `compose.yaml`, and the entrypoint script run as a non-root user on a
folder laid out like the image's (``/app`` with its ``data`` link, a ``/data`` volume).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_license_is_an_spdx_expression_setuptools_reads_without_warning():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # PEP 639: a plain SPDX string; the old table form is deprecated from setuptools 77.
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]

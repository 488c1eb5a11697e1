"""Writing results: every file under a temporary name, then renamed into place, with its provenance.

A reader (or a crash) never sees a half-written report, table or figure. Provenance says what
made an output: the code's version and commit (``git_commit``), and for a run its ``manifest``.
This module imports nothing of the project, so that any layer can write its outputs.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any, Protocol

REPO_ROOT = Path(__file__).resolve().parent.parent


class Identified(Protocol):
    """What a manifest needs of a scenario (``sim.scenario.Scenario``), so that this module imports none."""

    name: str

    def sha256(self) -> str:
        """The hash of the validated scenario."""
        ...


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def save_figure(
    fig: Any, folder: Path, stem: str, formats: tuple[str, ...] = ("png", "svg"), dpi: int = 120
) -> list[Path]:
    """Save a matplotlib figure as ``folder/stem.<format>`` for each format, atomically; close it."""
    import matplotlib.pyplot as plt

    written = []
    for suffix in formats:
        path = folder / f"{stem}.{suffix}"
        tmp = folder / f".{stem}.tmp.{suffix}"
        fig.savefig(tmp, format=suffix, dpi=dpi, bbox_inches="tight")
        tmp.replace(path)
        written.append(path)
    plt.close(fig)
    return written


def code_version() -> str:
    """The installed version of this package."""
    try:
        return importlib.metadata.version("qusayr")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def manifest(scenario: Identified, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Provenance of a run: scenario hash, seed, overrides, code version and commit, package versions."""
    packages = {}
    for name in ("mesa", "numpy", "scipy", "pydantic", "pyarrow", "pandas", "networkx"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "scenario": scenario.name,
        "scenario_sha256": scenario.sha256(),
        "seed": seed,
        "overrides": overrides,
        "version": code_version(),
        "git": git_commit(),
        "python": platform.python_version(),
        "packages": packages,
    }

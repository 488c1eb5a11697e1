"""Writing results: every file, and a run's whole folder, under a temporary name, then renamed into place.

A reader (or a crash, or a second writer) never sees a half-written report, table or figure, nor a
run's folder holding files of two runs. Temporary names are unique (two processes writing the same
file each write their own) and removed on error. ``check_out_folder`` refuses, before any work, an
output folder that cannot be written; ``path_under`` refuses an output path, built from an input
such as a scenario's name, that leaves its base. Provenance says what made an output: the code's
version and commit (``git_commit``), and for a run its ``manifest``. This module imports nothing
of the project but ``LoadError``, so that any layer can write its outputs.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import os
import platform
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sim.installation import CHECKOUT, code_version
from sim.loading import LoadError

_PLACING_ATTEMPTS = 20  # rounds of moving a folder into place against other writers doing the same


class OutputPathError(LoadError):
    """An output folder that cannot be written, or an output path that leaves its base (the CLI adds the command)."""


class Identified(Protocol):
    """What a manifest needs of a scenario (``sim.scenario.Scenario``), so that this module imports none."""

    name: str

    def sha256(self) -> str:
        """The hash of the validated scenario."""
        ...


def _sibling(path: Path, kind: str = "tmp") -> Path:
    """A hidden name beside ``path`` that no other process picks: ``.<name>.<random>.<kind>``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.{kind}")


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A unique temporary file beside ``path`` to write; it replaces ``path`` on success and is removed on error."""
    tmp = _sibling(path)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with _replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with _replacing(path) as tmp:
        tmp.write_bytes(data)
    return path


def save_figure(
    fig: Any, folder: Path, stem: str, formats: tuple[str, ...] = ("png", "svg"), dpi: int = 120
) -> list[Path]:
    """Save a matplotlib figure as ``folder/stem.<format>`` for each format, atomically; close it."""
    import matplotlib.pyplot as plt

    written = []
    try:
        for suffix in formats:
            path = folder / f"{stem}.{suffix}"
            with _replacing(path) as tmp:
                fig.savefig(tmp, format=suffix, dpi=dpi, bbox_inches="tight")
            written.append(path)
    finally:
        plt.close(fig)
    return written


@contextlib.contextmanager
def folder_as_unit(folder: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``folder`` to write into; on success it replaces ``folder`` whole.

    A reader sees the earlier folder or the new one, never a mix of the two; after an error the
    earlier folder is as it was and the temporary one is gone. Two writers at once end with one
    writer's complete folder. A link to a folder stays: the folder it points to is the one replaced.
    """
    if folder.is_symlink():
        folder = folder.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(folder)
    staging.mkdir()
    try:
        yield staging
        _move_into_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``; an existing ``folder`` is renamed aside first and removed after."""
    asides: list[Path] = []
    try:
        for _ in range(_PLACING_ATTEMPTS):
            try:
                staging.rename(folder)  # replaces nothing but an empty folder
                break
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            aside = _sibling(folder, "old")
            with contextlib.suppress(FileNotFoundError):  # another writer moved it aside first: try again
                folder.rename(aside)
                asides.append(aside)
        else:
            raise OSError(errno.EBUSY, "other writers kept replacing it", str(folder))
    except BaseException:
        if asides and not folder.exists():  # put the earlier folder back
            with contextlib.suppress(OSError):
                asides.pop().rename(folder)
        raise
    finally:
        for aside in asides:
            shutil.rmtree(aside, ignore_errors=True)


def check_out_folder(folder: Path, flag: str = "--out", *, whole: bool = False) -> Path:
    """``folder`` if it can be written, checked before any work; else ``OutputPathError`` naming ``flag``.

    Refused: a file, a path inside a file, a folder whose nearest existing ancestor cannot be written
    or cannot take the folder's name (tried by making and removing a folder there, named as the first
    one to be made, which also holds for root, read-only mounts and names too long).
    ``whole``: the folder is replaced whole (``folder_as_unit``), so it is written beside itself, in
    its parent, and must not be the current folder or hold it.
    """
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{flag}: {folder}: is a file, not a folder")
    if whole and Path.cwd().resolve().is_relative_to(folder.resolve()):
        raise OutputPathError(f"{flag}: {folder}: is the current folder or holds it, and would be replaced whole")
    # ``made``: the first folder to be made, in ``nearest``, the nearest folder that exists
    made, nearest = (folder, folder.parent) if whole else (folder / "probe", folder)
    while not nearest.exists() and nearest != nearest.parent:
        made, nearest = nearest, nearest.parent
    if not nearest.is_dir():
        raise OutputPathError(f"{flag}: {folder}: lies inside the file {nearest}")
    probe = _sibling(made)
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise OutputPathError(f"{flag}: {folder}: cannot make a folder in {nearest}: {exc.strerror}") from None
    return folder


def path_under(base: Path, name: str, source: str) -> Path:
    """``base / name``, refused (``OutputPathError``) unless it lies inside ``base``.

    ``name`` comes from an input (a scenario's name, say), which ``source`` names (``file: field``):
    ``..`` or an absolute path in it must not send an output elsewhere. The check is on the path as
    written (``..`` folded), not through links, which are the user's own.
    """
    path = base / name
    where, root = Path(os.path.abspath(path)), Path(os.path.abspath(base))
    if where == root or not where.is_relative_to(root):
        raise OutputPathError(f"{source}: {path} lies outside {base}")
    return path


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes (None when installed or outside git)."""
    if CHECKOUT is None:  # asking git in site-packages could name a repository that merely encloses it
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=CHECKOUT, capture_output=True, text=True, check=True
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

"""The installation: its version, where the inputs shipped with it live, where a user's own are looked for.

Light on purpose (no numpy, pydantic or numba), so that ``qusayr --help`` and ``--version`` answer at once.

The shipped inputs are the scenarios (``scenarios/``), the experiments (``experiments/``), the record
(``seeds/<battle>/``) and the web page (``app.py``). In a checkout they are the top-level folders; an
installed wheel carries the same files as package data in ``sim/data/`` (pyproject.toml maps the
checkout's root there), found through ``importlib.resources``, so the commands work from any folder.

A user's own scenarios and experiments are given by path, or by name from the folders named in the
environment variables ``QUSAYR_SCENARIOS`` and ``QUSAYR_EXPERIMENTS`` (``os.pathsep``-separated),
which are searched before the shipped folder.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path

# kind of input -> (the environment variable naming a user's folders, the folder inside each of them and
# inside the shipped root, one such input)
KINDS = {
    "scenarios": ("QUSAYR_SCENARIOS", ("scenarios",), "scenario"),
    "experiments": ("QUSAYR_EXPERIMENTS", ("experiments",), "experiment"),
    "pattern tests": ("QUSAYR_EXPERIMENTS", ("experiments", "patterns"), "pattern test"),
}

DEFAULT_SCENARIO = "al-qusayr-2013"  # the shipped baseline

_PACKAGE = Path(str(importlib.resources.files("sim")))  # pip unpacks wheels: the package is a folder
_INSTALLED_DATA = _PACKAGE / "data"
# The checkout the package runs from (editable install or PYTHONPATH), None when installed from a wheel.
CHECKOUT = None if _INSTALLED_DATA.is_dir() else _PACKAGE.parent
SHIPPED_ROOT = _INSTALLED_DATA if CHECKOUT is None else CHECKOUT  # the folder holding the shipped inputs


def shipped(*parts: str) -> Path:
    """A shipped input, e.g. ``shipped("scenarios")`` or ``shipped("seeds", "al-qusayr-2013", "record.yaml")``."""
    return SHIPPED_ROOT.joinpath(*parts)


def search_folders(kind: str) -> list[Path]:
    """Where inputs of ``kind`` (a key of ``KINDS``) are looked for by name, in order.

    A user's folders first (for a pattern test, their ``patterns/``), then the shipped one.
    """
    variable, inside, _ = KINDS[kind]
    users = [Path(folder) for folder in os.environ.get(variable, "").split(os.pathsep) if folder]
    return [folder.joinpath(*inside[1:]) for folder in users] + [shipped(*inside)]


def names(kind: str) -> list[str]:
    """The names of the inputs of ``kind`` found in its search folders (top level only)."""
    return sorted({path.stem for folder in search_folders(kind) for path in folder.glob("*.yaml")})


def named_input(name_or_path: str | Path, kind: str, error: Callable[[str], Exception]) -> Path:
    """An input's file: a path as given (a ``.yaml`` name or an existing file), else a name's file.

    That is ``<name>.yaml`` in the first search folder that holds it; a name found nowhere raises
    ``error`` with a message that lists the names there are.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    for folder in search_folders(kind):
        if (folder / f"{name_or_path}.yaml").is_file():
            return folder / f"{name_or_path}.yaml"
    known = ", ".join(names(kind)) or "none"
    raise error(f"{name_or_path}: no such {KINDS[kind][2]}; the {kind} found by name are {known} (qusayr list)")


def code_version() -> str:
    """The installed version of this package ("unknown" when it runs uninstalled from a checkout)."""
    try:
        return importlib.metadata.version("qusayr")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"

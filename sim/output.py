"""Writing results: every file under a temporary name, then renamed into place.

A reader (or a crash) never sees a half-written report, table or figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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

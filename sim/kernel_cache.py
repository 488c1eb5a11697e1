"""Where numba keeps the compiled kernels: one folder per version of the package's source.

numba's on-disk cache (``cache=True``) checks only the source file of the function it compiled, not
the files of the kernels that function calls and compiles into itself: the fire, villages and
supply kernels hold casualties' ``inflict_kernel``, so after a change to ``casualties.py`` alone
they would load a stale copy. Keying the whole cache on a hash of every source file of the package
makes any change of the code start a fresh folder (compiled once, then shared by every process and
sweep worker of that version, which inherit the setting).

The folder is ``sim/__pycache__/kernels-<hash>`` beside the code when that is writable (a checkout),
else ``$XDG_CACHE_HOME/qusayr/kernels-<hash>`` (``~/.cache`` by default: an installed package).
A ``NUMBA_CACHE_DIR`` set by the user is left as it is (then clear it after changing the code).
Folders of earlier versions are not removed; they hold nothing the current code reads.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_SET_BY_US = "QUSAYR_NUMBA_CACHE_DIR"  # the NUMBA_CACHE_DIR that use_kernel_cache set, to tell it from the user's


def source_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """A hash of the package's Python sources: their paths within the package and their bytes."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def kernel_cache_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """The cache folder of this version of the package (see the module)."""
    name = f"kernels-{source_hash(package_dir)}"
    in_tree = package_dir / "__pycache__"
    if os.access(package_dir, os.W_OK) and (not in_tree.exists() or os.access(in_tree, os.W_OK)):
        return in_tree / name
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user_cache / "qusayr" / name


def use_kernel_cache() -> None:
    """Point numba's cache at ``kernel_cache_dir()``, unless the user chose a ``NUMBA_CACHE_DIR``.

    Set in the environment (read when numba is imported, and by the sweep's worker processes) and,
    when numba is already imported, in its configuration. A value this function set (in this process
    or, for another version of the code, in a parent process) is made again, never taken as the user's.
    """
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen and chosen != os.environ.get(_SET_BY_US):
        return
    folder = str(kernel_cache_dir())
    os.environ["NUMBA_CACHE_DIR"] = os.environ[_SET_BY_US] = folder
    if "numba" in sys.modules:
        from numba.core import config

        config.CACHE_DIR = folder

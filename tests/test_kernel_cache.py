"""The compiled kernels' cache folder follows every source file of the package."""

import os
import subprocess
import sys

from sim.kernel_cache import PACKAGE_DIR, kernel_cache_dir, source_hash


def _package(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_any_source_change_gives_another_folder(tmp_path):
    package = _package(tmp_path / "pkg", {"a.py": "x = 1\n", "rules/b.py": "y = 2\n"})
    first = kernel_cache_dir(package)
    assert first.parent == package / "__pycache__"  # a writable checkout keeps it beside the code
    assert kernel_cache_dir(package) == first
    (package / "rules" / "b.py").write_text("y = 3\n")  # a callee's file alone
    assert kernel_cache_dir(package) != first
    (package / "rules" / "b.py").write_text("y = 2\n")
    assert kernel_cache_dir(package) == first
    (package / "rules" / "b.py").rename(package / "rules" / "c.py")  # same bytes, another file
    assert kernel_cache_dir(package) != first


def test_a_read_only_package_caches_in_the_users_folder(tmp_path, monkeypatch):
    package = _package(tmp_path / "pkg", {"a.py": "x = 1\n"})
    package.chmod(0o555)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        if os.access(package, os.W_OK):  # root writes anywhere: nothing to tell apart
            return
        assert kernel_cache_dir(package) == tmp_path / "cache" / "qusayr" / f"kernels-{source_hash(package)}"
    finally:
        package.chmod(0o755)


def test_numba_uses_the_folder_unless_the_user_chose_one(tmp_path):
    code = "import numba.core.config as c, sim; print(c.CACHE_DIR)"
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "QUSAYR_NUMBA_CACHE_DIR")}
    ours = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert ours.stdout.strip() == str(kernel_cache_dir(PACKAGE_DIR))
    # a folder set by this mechanism for another version (a parent process) is made again
    stale = dict(env, NUMBA_CACHE_DIR="/elsewhere", QUSAYR_NUMBA_CACHE_DIR="/elsewhere")
    again = subprocess.run([sys.executable, "-c", code], env=stale, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == str(kernel_cache_dir(PACKAGE_DIR))
    users = dict(env, NUMBA_CACHE_DIR=str(tmp_path))
    theirs = subprocess.run([sys.executable, "-c", code], env=users, capture_output=True, text=True, check=True)
    assert theirs.stdout.strip() == str(tmp_path)

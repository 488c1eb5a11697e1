"""The wheel works outside the checkout: built, installed into a fresh venv, run from an empty folder.

The wheel is built from a copy of the files it is made of (so a stale ``build/`` cannot leak into
it) and installed without its dependencies into a new virtual environment. The dependencies come
from this test environment: its site-packages after the venv's own, its Jupyter data and
configuration (Solara's front end) through ``JUPYTER_PATH`` and ``JUPYTER_CONFIG_PATH``. The checkout
is on no path, and the wheel's ``sim`` is the one imported, which the test checks. From an empty
folder it runs ``python -m sim --version``, ``qusayr run`` (which compiles the kernels once),
``qusayr sweep smoke``, and ``qusayr viz`` until the page answers, then stops it with SIGINT as
Ctrl-C would.
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sim.viz import listen
from tests.conftest import REPO_ROOT

WHEEL_SOURCES = ["pyproject.toml", "README.md", "LICENSE", "app.py", "sim", "scenarios", "experiments", "seeds"]
PAGE_TIMEOUT_S = 300  # generous: a loaded 2-core machine took over 120 s once


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with only the wheel installed (its ``bin`` folder) and the environment to run it in."""
    base = tmp_path_factory.mktemp("wheel")
    # no PYTHONPATH: with the checkout on it, pip would take its qusayr.egg-info for an installed qusayr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "QUSAYR_NUMBA_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(base / "cache")
    source = base / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    wheels = base / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(source)]
    subprocess.run(build, check=True, capture_output=True)
    (wheel,) = wheels.glob("qusayr-*.whl")
    venv = base / "venv"
    # without a pip of its own (seeding one takes seconds): this environment's pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, cwd=base, env=env)
    venv_site = next(venv.glob("lib/python*/site-packages"))
    # the dependencies: this environment's site-packages, after the venv's own (a .pth adds them)
    (venv_site / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    # ... and their Jupyter data and configuration (Solara's front-end extensions) from this environment's prefix
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    env["JUPYTER_CONFIG_PATH"] = str(Path(sys.prefix) / "etc" / "jupyter")
    return venv / "bin", env


def _run(installed, program: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir, env = installed
    command = [str(bin_dir / program), *arguments]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def empty_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("empty")


def test_the_installed_package_is_the_wheel_and_carries_its_inputs(installed, empty_folder):
    where = "import sim, sim.installation as p; print(sim.__file__); print(p.SHIPPED_ROOT)"
    done = _run(installed, "python", "-c", where, cwd=empty_folder)
    assert done.returncode == 0, done.stderr
    package_file, shipped_root = done.stdout.split()
    assert Path(package_file).is_relative_to(installed[0].parent), package_file
    assert Path(shipped_root).name == "data"
    assert (Path(shipped_root) / "scenarios" / "al-qusayr-2013.yaml").is_file()
    version = _run(installed, "python", "-m", "sim", "--version", cwd=empty_folder)
    assert version.returncode == 0
    assert version.stdout.startswith("qusayr 0."), version.stdout


def test_run_and_a_sweep_work_from_an_empty_folder(installed, empty_folder):
    run = _run(installed, "qusayr", "run", cwd=empty_folder)
    assert run.returncode == 0, run.stderr
    assert (empty_folder / "results" / "al-qusayr-2013-seed1" / "summary.json").is_file()
    sweep = _run(installed, "qusayr", "sweep", "smoke", "--workers", "1", "--quiet", cwd=empty_folder)
    assert sweep.returncode == 0, sweep.stderr
    assert (empty_folder / "results" / "sweeps" / "smoke" / "runs.parquet").is_file()


def test_the_page_answers_and_stops(installed, empty_folder):
    with listen(0) as probe:  # a free port, released for the server
        port = probe.getsockname()[1]
    bin_dir, env = installed
    command = [str(bin_dir / "qusayr"), "viz", "--port", str(port)]
    with subprocess.Popen(
        command, cwd=empty_folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as server:
        try:
            deadline = time.monotonic() + PAGE_TIMEOUT_S
            while True:
                assert server.poll() is None, server.communicate()[1].decode()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                        assert response.status == 200
                        break
                except urllib.error.HTTPError as error:  # an answer, but not the page
                    raise AssertionError(f"the page answered {error.code}") from None
                except OSError:
                    assert time.monotonic() < deadline, "the page did not answer"
                    time.sleep(0.5)
            os.killpg(server.pid, signal.SIGINT)  # as Ctrl-C does: to the command and its server
            _, errors = server.communicate(timeout=30)
            assert server.returncode == 0
            assert "Traceback" not in errors.decode()
        finally:
            if server.poll() is None:
                server.kill()

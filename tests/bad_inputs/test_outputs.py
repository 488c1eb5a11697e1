"""Bad inputs of the outputs' area: the command line's flags, output folders, output paths built from names.

Each case is refused before any run: one line naming the command and the flag (or the scenario file
and its ``name``), exit 2, nothing written. The case runs in ``work/`` inside a fresh folder, which
is watched whole, so that an output sent outside ``work/`` (a scenario named ``../../x``) is seen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, assert_refused, qusayr

SHORT = ["--set", "time.end=2013-05-19T12:00:00"]  # were a case not refused, its run would be short
AS_ROOT = os.geteuid() == 0
BASELINE = REPO_ROOT / "scenarios" / "al-qusayr-2013.yaml"


def a_file(work: Path) -> None:
    (work / "afile").write_text("not a folder\n")


def a_locked_folder(work: Path) -> None:
    (work / "locked").mkdir(mode=0o500)


def a_folder_of_notes(work: Path) -> None:
    (work / "notes").mkdir()
    (work / "notes" / "thesis.tex").write_text("mine\n")


def a_scenario_named(name: str) -> Callable[[Path], None]:
    def write(work: Path) -> None:
        (work / "evil.yaml").write_text(f"base: {BASELINE}\nname: {name}\n")

    return write


def a_scenario_named_by_an_absolute_path(work: Path) -> None:
    a_scenario_named(str(work.parent / "elsewhere"))(work)


def a_locked_sweep_folder(work: Path) -> None:
    sweep = work / "sweep"
    sweep.mkdir()
    for name in ("runs.parquet", "ledger.sqlite"):
        (sweep / name).write_bytes(b"")
    sweep.chmod(0o500)


@dataclass(frozen=True)
class Case:
    """``qusayr args`` in a folder made by ``setup``; refused with a line holding each of ``fragments``."""

    args: list[str]
    fragments: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


NOT_AS_ROOT = pytest.mark.skipif(AS_ROOT, reason="root writes into read-only folders")
NO_SYSFS = pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="no sysfs, where nobody makes folders")

CASES = [
    # flags: a number out of its bounds, or no number at all
    pytest.param(Case(["run", "--seed", "-1", *SHORT], ("run", "--seed", "at least 0")), id="seed-negative"),
    pytest.param(Case(["run", "--seed", str(2**64), *SHORT], ("run", "--seed", "at most")), id="seed-too-large"),
    pytest.param(Case(["bench", "--seed", "one"], ("bench", "--seed", "not a whole number")), id="seed-not-a-number"),
    pytest.param(Case(["run", "--seed"], ("run", "--seed", "expected one argument")), id="seed-without-value"),
    pytest.param(Case(["bench", "--forces-scale", "nan"], ("bench", "--forces-scale", "nan")), id="forces-scale-nan"),
    pytest.param(Case(["bench", "--forces-scale", "inf"], ("bench", "--forces-scale", "inf")), id="forces-scale-inf"),
    pytest.param(
        Case(["bench", "--forces-scale", "-1"], ("bench", "--forces-scale", "-1")), id="forces-scale-negative"
    ),
    pytest.param(
        Case(["bench", "--forces-scale", "0", *SHORT], ("--forces-scale", "more than 0")), id="forces-scale-0"
    ),
    pytest.param(Case(["bench", "--forces-scale", "1e4"], ("--forces-scale", "at most 20")), id="forces-scale-huge"),
    pytest.param(Case(["bench", "--forces-scale", "x"], ("--forces-scale", "not a number")), id="forces-scale-text"),
    pytest.param(Case(["bench", "--repeat", "1000000", *SHORT], ("bench", "--repeat", "at most")), id="repeat-huge"),
    pytest.param(Case(["bench", "--repeat", "0"], ("bench", "--repeat", "at least 1")), id="repeat-0"),
    pytest.param(Case(["viz", "--port", "99999"], ("viz", "--port", "at most 65535")), id="port-too-large"),
    pytest.param(Case(["viz", "--port", "0"], ("viz", "--port", "at least 1")), id="port-0"),
    pytest.param(Case(["viz", "--bench", str(10**9)], ("viz", "--bench", "at most")), id="viz-redraws-huge"),
    pytest.param(
        Case(["viz", "--bench", "1", "--steps-per-redraw", str(10**9)], ("viz", "--steps-per-redraw", "at most")),
        id="viz-steps-per-redraw-huge",
    ),
    pytest.param(Case(["validate", "--runs", str(10**9)], ("validate", "--runs", "at most")), id="validate-runs-huge"),
    pytest.param(
        Case(["validate", "--seed", str(2**64)], ("validate", "--seed", "at most")),
        id="validate-seed-too-large",
    ),
    pytest.param(
        Case(["compare", "al-qusayr-2013", "no-corridor", "--runs", str(10**9)], ("compare", "--runs", "at most")),
        id="compare-runs-huge",
    ),
    pytest.param(
        Case(["sensitivity", "force-ratio", "--size", str(10**9)], ("sensitivity", "--size", "at most")),
        id="sensitivity-size-huge",
    ),
    pytest.param(
        Case(["sensitivity", "force-ratio", "--replicates", str(10**9)], ("sensitivity", "--replicates", "at most")),
        id="sensitivity-replicates-huge",
    ),
    pytest.param(
        Case(["sensitivity", "force-ratio", "--method", "guess"], ("sensitivity", "--method", "invalid choice")),
        id="sensitivity-method-unknown",
    ),
    pytest.param(
        Case(["calibrate", "calibration", "--train-until", "1000"], ("calibrate", "--train-until", "at most 22")),
        id="calibrate-train-until-after-any-run",
    ),
    pytest.param(Case(["frobnicate"], ("COMMAND", "invalid choice")), id="command-unknown"),
    pytest.param(Case([], ("COMMAND", "required")), id="command-missing"),
    pytest.param(Case(["run", "--bogus"], ("unrecognized arguments", "--bogus")), id="flag-unknown"),
    pytest.param(Case(["run", "--set", "forces"], ("--set", "forces", "=")), id="set-without-equals"),
    # output folders that cannot be written: refused before the run, not after it
    pytest.param(
        Case(["run", "--out", "afile", *SHORT], ("run", "--out", "afile", "is a file"), a_file), id="run-out-a-file"
    ),
    pytest.param(
        Case(["run", "--out", "afile/run", *SHORT], ("run", "--out", "inside the file afile"), a_file),
        id="run-out-inside-a-file",
    ),
    pytest.param(
        Case(
            ["run", "--out", "locked/run", *SHORT], ("run", "--out", "cannot make a folder in locked"), a_locked_folder
        ),
        id="run-out-unwritable",
        marks=NOT_AS_ROOT,
    ),
    pytest.param(
        Case(["run", "--out", "/sys/qusayr-run", *SHORT], ("run", "--out", "cannot make a folder in /sys")),
        id="run-out-where-not-even-root-writes",
        marks=NO_SYSFS,
    ),
    pytest.param(
        Case(["run", "--out", "x" * 250, *SHORT], ("run", "--out", "File name too long")), id="run-out-name-too-long"
    ),
    pytest.param(
        Case(["run", "--out", "notes", *SHORT], ("run", "--out", "notes", "thesis.tex"), a_folder_of_notes),
        id="run-out-holding-other-files",
    ),
    pytest.param(Case(["run", "--out", ".", *SHORT], ("run", "--out", "current folder")), id="run-out-current-folder"),
    pytest.param(
        Case(["validate", "--out", "afile", "--runs", "2", *SHORT], ("validate", "--out", "is a file"), a_file),
        id="validate-out-a-file",
    ),
    pytest.param(
        Case(["calibrate", "calibration", "--out", "afile/cal"], ("calibrate", "--out", "inside the file"), a_file),
        id="calibrate-out-inside-a-file",
    ),
    pytest.param(
        Case(["sensitivity", "force-ratio", "--out", "afile"], ("sensitivity", "--out", "is a file"), a_file),
        id="sensitivity-out-a-file",
    ),
    pytest.param(
        Case(
            ["compare", "al-qusayr-2013", "no-corridor", "--runs", "2", "--out", "afile"], ("compare", "--out"), a_file
        ),
        id="compare-out-a-file",
    ),
    pytest.param(
        Case(
            ["compare", "al-qusayr-2013", "no-corridor", "--runs", "2", "--ensembles", "afile/ens"],
            ("compare", "--ensembles", "inside the file"),
            a_file,
        ),
        id="compare-ensembles-inside-a-file",
    ),
    pytest.param(
        Case(["plot", "sweep"], ("plot", "folder", "cannot make a folder in sweep"), a_locked_sweep_folder),
        id="plot-folder-unwritable",
        marks=NOT_AS_ROOT,
    ),
    # output paths built from a scenario's name stay under their base (the name is refused first: the
    # path check behind it, sim.output.path_under, is tested in tests/test_output.py)
    pytest.param(
        Case(["run", "evil.yaml", *SHORT], ("evil.yaml", "name"), a_scenario_named("../../escaped")),
        id="run-name-escapes-results",
    ),
    pytest.param(
        Case(["run", "evil.yaml", *SHORT], ("evil.yaml", "name"), a_scenario_named_by_an_absolute_path),
        id="run-name-absolute",
    ),
    pytest.param(
        Case(
            ["compare", "al-qusayr-2013", "evil.yaml", "--runs", "2", "--ensembles", "ens"],
            ("evil.yaml", "name"),
            a_scenario_named("../../escaped"),
        ),
        id="compare-name-escapes-ensembles",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_output_or_flag_is_refused(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if case.setup:
        case.setup(work)
    assert_refused(qusayr(case.args, cwd=work, watch=[tmp_path]), *case.fragments)

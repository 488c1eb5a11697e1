"""sim.output: files and folders written as a unit, output folders checked before work, paths kept under their base."""

import errno
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from sim import output
from sim.output import OutputPathError, check_out_folder, folder_as_unit, path_under, save_figure, write_bytes

NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def _disk_full_after_some_bytes(monkeypatch):
    """``Path.write_bytes`` writes half its data, then fails as a full disk would."""

    def half_then_full(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise NO_SPACE

    monkeypatch.setattr(Path, "write_bytes", half_then_full)


def test_a_failed_write_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = write_bytes(tmp_path / "table.parquet", b"earlier")
    _disk_full_after_some_bytes(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        write_bytes(target, b"later and longer")
    assert target.read_bytes() == b"earlier"
    assert os.listdir(tmp_path) == ["table.parquet"]


def test_a_failed_figure_keeps_the_earlier_one_and_leaves_no_temporary(tmp_path, monkeypatch):
    fig, _ = plt.subplots()
    [png] = save_figure(fig, tmp_path, "control", formats=("png",))
    earlier = png.read_bytes()
    fig, _ = plt.subplots()

    def half_then_full(path, **_):
        Path(path).write_text("half a png")
        raise NO_SPACE

    monkeypatch.setattr(fig, "savefig", half_then_full)
    with pytest.raises(OSError, match="No space"):
        save_figure(fig, tmp_path, "control", formats=("png",))
    assert png.read_bytes() == earlier
    assert os.listdir(tmp_path) == ["control.png"]
    assert not plt.fignum_exists(fig.number)  # closed all the same


def test_two_writers_of_one_file_each_write_their_own_temporary(tmp_path, monkeypatch):
    """B writes the whole file while A is between writing its temporary and renaming it: both succeed."""
    target = tmp_path / "summary.json"
    real = Path.write_bytes

    def write_then_let_b_in(self, data):
        written = real(self, data)
        if data == b"A":
            write_bytes(target, b"B")
        return written

    monkeypatch.setattr(Path, "write_bytes", write_then_let_b_in)
    write_bytes(target, b"A")
    assert target.read_bytes() == b"A"  # the last rename wins
    assert os.listdir(tmp_path) == ["summary.json"]


def test_a_folder_written_as_a_unit_replaces_the_earlier_one_whole(tmp_path):
    out = tmp_path / "run"
    with folder_as_unit(out) as folder:
        (folder / "a").write_text("1")
        (folder / "b").write_text("1")
    with folder_as_unit(out) as folder:
        (folder / "a").write_text("2")
    assert sorted(os.listdir(out)) == ["a"]  # b was the earlier run's: gone with it
    assert (out / "a").read_text() == "2"
    assert os.listdir(tmp_path) == ["run"]


def test_an_error_inside_a_folder_written_as_a_unit_keeps_the_earlier_folder(tmp_path):
    out = tmp_path / "run"
    with folder_as_unit(out) as folder:
        (folder / "a").write_text("1")

    def disk_full_after_one_file():
        with folder_as_unit(out) as folder:
            (folder / "a").write_text("2")
            raise NO_SPACE

    with pytest.raises(OSError, match="No space"):
        disk_full_after_one_file()
    assert os.listdir(out) == ["a"]
    assert (out / "a").read_text() == "1"
    assert os.listdir(tmp_path) == ["run"]


def test_a_second_writer_placing_its_folder_meanwhile_ends_with_one_whole_folder(tmp_path, monkeypatch):
    """B puts its folder in place while A is about to: A's replaces it whole, nothing of B's is left."""
    out = tmp_path / "run"
    real = output._move_into_place
    calls = []

    def b_first(staging, folder):
        calls.append(staging)
        if len(calls) == 1:
            with folder_as_unit(out) as other:
                (other / "b-only").write_text("B")
        real(staging, folder)

    monkeypatch.setattr(output, "_move_into_place", b_first)
    with folder_as_unit(out) as folder:
        (folder / "a-only").write_text("A")
    assert os.listdir(out) == ["a-only"]
    assert os.listdir(tmp_path) == ["run"]


def test_an_out_folder_that_is_a_file_or_inside_one_is_refused(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(OutputPathError, match=r"--out: .*afile: is a file"):
        check_out_folder(afile)
    with pytest.raises(OutputPathError, match=r"--ensembles: .*lies inside the file .*afile"):
        check_out_folder(afile / "sub" / "deeper", "--ensembles")
    with pytest.raises(OutputPathError, match=r"lies inside the file"):
        check_out_folder(afile / "sub", whole=True)
    assert check_out_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert os.listdir(tmp_path) == ["afile"]  # the check made nothing


def test_a_folder_replaced_whole_must_not_hold_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "inner").mkdir()
    monkeypatch.chdir(tmp_path / "inner")
    for folder in (Path("."), tmp_path):
        with pytest.raises(OutputPathError, match="current folder"):
            check_out_folder(folder, whole=True)
    check_out_folder(Path("."))  # written into, not replaced: fine


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_out_folder_in_a_folder_that_cannot_be_written_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputPathError, match=r"cannot make a folder in .*locked"):
            check_out_folder(locked / "out")
        with pytest.raises(OutputPathError, match=r"cannot make a folder in .*locked"):
            check_out_folder(locked / "run", whole=True)
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="no sysfs, where nobody makes folders")
def test_an_out_folder_where_not_even_root_can_write_is_refused():
    with pytest.raises(OutputPathError, match="cannot make a folder in /sys"):
        check_out_folder(Path("/sys/qusayr-out"))


def test_an_out_folder_whose_name_is_too_long_is_refused(tmp_path):
    for whole in (False, True):
        with pytest.raises(OutputPathError, match="File name too long"):
            check_out_folder(tmp_path / ("x" * 250), whole=whole)
    check_out_folder(tmp_path / ("x" * 200), whole=True)


@pytest.mark.parametrize("name", ["../x", "../../x", "a/../../x", "/tmp/x", "", "."])
def test_a_name_that_leaves_its_base_is_refused(tmp_path, name):
    with pytest.raises(OutputPathError, match=r"evil.yaml: name: .* lies outside"):
        path_under(tmp_path / "results", name, "evil.yaml: name")


@pytest.mark.parametrize("name", ["al-qusayr-2013-seed1", "..-seed1", "a/b", "a/../b"])
def test_a_name_inside_its_base_is_kept(tmp_path, name):
    assert path_under(tmp_path / "results", name, "x") == tmp_path / "results" / name


def test_a_folder_written_as_a_unit_through_a_link_replaces_the_folder_it_points_to(tmp_path):
    target = tmp_path / "elsewhere"
    with folder_as_unit(target) as folder:
        (folder / "a").write_text("earlier")
    (tmp_path / "run").symlink_to(target)
    with folder_as_unit(tmp_path / "run") as folder:
        (folder / "a").write_text("new")
    assert (tmp_path / "run").readlink() == target
    assert (target / "a").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["elsewhere", "run"]

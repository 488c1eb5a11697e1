"""The one YAML+pydantic loader (sim.loading): reading a mapping, and errors as ``file: field: message``."""

import os
import re

import pytest
from pydantic import Field

from sim.loading import MAX_FILE_BYTES, InputModel, LoadError, SafeName, load, parse, read_mapping


class Strict(InputModel):
    pass


class Item(Strict):
    id: str | None = None
    name: str | None = None
    size: int = Field(ge=0)


class Part(Strict):
    weight_kg: float


class Box(Strict):
    title: str
    items: list[Item] = Field(default_factory=list)
    lid: Part | None = None
    parts: dict[str, Part] = Field(default_factory=dict)
    rows: list[list[int]] = Field(default_factory=list)


class Named(Strict):
    name: SafeName


class BoxError(LoadError):
    """The error type a caller asks for."""


def write(tmp_path, text: str):
    path = tmp_path / "box.yaml"
    path.write_text(text)
    return path


def message(tmp_path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(BoxError) as info:
        load(Box, path, "box", BoxError)
    assert all(line.startswith(f"{path}: ") for line in str(info.value).splitlines())
    return str(info.value)


def test_a_valid_file_loads_into_its_model(tmp_path):
    box = load(Box, write(tmp_path, "title: t\nitems:\n  - size: 2\nlid:\n  weight_kg: 1.5\n"), "box", BoxError)
    assert box.items[0].size == 2
    assert box.lid.weight_kg == 1.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "the box file must hold a mapping of keys to values"),
        ("", "the box file must hold a mapping of keys to values"),
    ],
)
def test_unreadable_content_is_one_line_naming_the_file(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(BoxError) as info:
        read_mapping(path, "box", BoxError)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_a_missing_or_unreadable_file_is_named(tmp_path):
    with pytest.raises(BoxError, match=f"^{re.escape(str(tmp_path / 'nope.yaml'))}: no such box file$"):
        read_mapping(tmp_path / "nope.yaml", "box", BoxError)
    with pytest.raises(BoxError, match=f"^{re.escape(str(tmp_path))}: is a folder, not a box file$"):
        read_mapping(tmp_path, "box", BoxError)


def test_each_problem_is_a_line_with_its_dotted_field(tmp_path):
    text = message(tmp_path, "items:\n  - size: -1\n  - size: many\n")
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("title: Field required")
    assert "items.0.size: Input should be greater than or equal to 0" in lines[1]
    assert "items.1.size: Input should be a valid integer" in lines[2]


def test_a_list_item_is_named_by_its_id_or_name(tmp_path):
    text = message(tmp_path, "title: t\nitems:\n  - {id: first, size: -1}\n  - {name: second, size: -1}\n")
    assert "items.0 (id 'first').size:" in text
    assert "items.1 (name 'second').size:" in text


@pytest.mark.parametrize(
    ("text", "where", "valid"),
    [
        ("title: t\ncolour: red\n", "colour", "title, items, lid, parts, rows"),
        ("title: t\nitems:\n  - {size: 1, colour: red}\n", "items.0.colour", "id, name, size"),
        ("title: t\nlid: {weight_kg: 1, colour: red}\n", "lid.colour", "weight_kg"),
        ("title: t\nparts:\n  hinge: {weight_kg: 1, colour: red}\n", "parts.hinge.colour", "weight_kg"),
    ],
)
def test_an_unknown_key_lists_the_valid_keys_where_it_was_found(tmp_path, text, where, valid):
    assert f"{where}: Extra inputs are not permitted (valid keys: {valid})" in message(tmp_path, text)


def test_an_error_at_the_top_level_says_so():
    class Checked(Strict):
        low: int
        high: int

        def model_post_init(self, context) -> None:
            if self.low > self.high:
                raise ValueError("low above high")

    with pytest.raises(LoadError, match=r"^label: \(top level\): low above high$"):
        parse(Checked, {"low": 2, "high": 1}, "label")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb:\n  c: 2\n  c: 3\n", "b.c: duplicate key (lines 3 and 4)"),
        ("items:\n  - {size: 1}\n  - {size: 1, size: 2}\n", "items.1.size: duplicate key (lines 3 and 3)"),
        ("a: &x [1]\nb: *x\n", "b: aliases (*name) are not allowed"),
        ("a: [&x 1, *x]\n", "a.1: aliases (*name) are not allowed"),
        ("a: *nowhere\n", "not valid YAML: found undefined alias (line 1, column 4)"),
        ("? [1, 2]\n: x\n", "(top level): a key must be a plain value"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "a.0.0: ... nested deeper than 32 levels (line 1)"),
        ("n: " + "9" * 5000 + "\n", "not valid YAML: Exceeds the limit (4300 digits)"),
        ("a: [unclosed\n  b: c\n", "not valid YAML: did not find expected ',' or ']' (line 2, column 4)"),
    ],
)
def test_what_could_expand_recurse_or_overwrite_is_refused_in_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(BoxError) as info:
        read_mapping(path, "box", BoxError)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value)


def test_the_billion_laughs_are_refused_before_they_expand(tmp_path):
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    )
    with pytest.raises(BoxError, match=r"box\.yaml: b\.0: aliases \(\*name\) are not allowed$"):
        read_mapping(write(tmp_path, laughs), "box", BoxError)


def test_only_true_and_false_are_booleans(tmp_path):
    raw = read_mapping(write(tmp_path, "a: yes\nb: no\nc: on\nd: off\ne: true\nf: False\n"), "box", BoxError)
    assert raw == {"a": "yes", "b": "no", "c": "on", "d": "off", "e": True, "f": False}
    assert "items.0.size: Input should be a valid integer" in message(tmp_path, "title: t\nitems:\n  - size: yes\n")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"title: caf\xe9\n", "not a UTF-8 text file (byte 10 cannot be read), so not a box file"),
        (bytes(range(256)), "not a UTF-8 text file"),
        (b"title: t\n" + b"#" * MAX_FILE_BYTES, f"larger than {MAX_FILE_BYTES:,} bytes, too large for a box file"),
    ],
)
def test_a_file_that_is_not_small_utf8_text_is_refused(tmp_path, content, expected):
    path = tmp_path / "box.yaml"
    path.write_bytes(content)
    with pytest.raises(BoxError) as info:
        read_mapping(path, "box", BoxError)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    with pytest.raises(BoxError, match=r"pipe\.yaml: not a regular file, so not a box file$"):
        read_mapping(tmp_path / "pipe.yaml", "box", BoxError)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "inf", "nan"])
def test_an_input_model_refuses_infinite_and_nan_floats(tmp_path, value):
    assert "lid.weight_kg: Input should be a finite number" in message(
        tmp_path, f"title: t\nlid: {{weight_kg: {value}}}\n"
    )


@pytest.mark.parametrize("name", ["al-qusayr-2013", "a_b.c", "A1", "x" * 64])
def test_a_safe_name_is_one_path_component(name):
    assert parse(Named, {"name": name}, "label").name == name


@pytest.mark.parametrize("name", ["../../x", "..", ".hidden", "/tmp/x", "a/b", "a\\b", "", "x" * 65, "a b", "é"])
def test_a_name_that_could_leave_its_folder_is_refused(name):
    with pytest.raises(LoadError, match=r"^label: name: must be 1-64 letters, digits"):
        parse(Named, {"name": name}, "label")

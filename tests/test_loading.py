"""The one YAML+pydantic loader (sim.loading): reading a mapping, and errors as ``file: field: message``."""

import re

import pytest
from pydantic import BaseModel, ConfigDict, Field

from sim.loading import LoadError, load, parse, read_mapping


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Item(Strict):
    id: str | None = None
    name: str | None = None
    size: int = Field(ge=0)


class Part(Strict):
    weight_kg: float


class Box(Strict):
    title: str
    items: list[Item] = []
    lid: Part | None = None
    parts: dict[str, Part] = {}
    rows: list[list[int]] = []


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
    with pytest.raises(BoxError, match=f"^{re.escape(str(tmp_path))}: cannot read the box: "):
        read_mapping(tmp_path, "box", BoxError)  # a folder


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

"""The generated parts of ``docs/odd.md``: each rule's parameter table, and the calibrated parameters.

A rule's table lists the fields of its ``Params`` (``sim/rules/<rule>.py``): the name, the baseline
scenario's value, the unit (read off the name's suffix: ``_h`` hours, ``_per_day`` per day, ``_m``
metres, ``_cells`` cells, ...; a choice among named values; dimensionless otherwise), the range the schema allows, the
provenance and the meaning (the field's description). A parameter left free by a calibration
experiment (``experiments/history-matching.yaml``, ``experiments/civilians.yaml``) is "calibrated", with
its bounds; any other says where it comes from in its description's closing parenthesis
(assumption, ``record:<id>``, policy input, ...). ``python -m sim.odd docs/odd.md`` (``make docs``)
rewrites every block between ``<!-- parameters:<name>:begin -->`` and ``<!-- parameters:<name>:end -->``,
``<name>`` being a rule or ``calibrated``; nothing else in the file is touched.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.scenario import Scenario, load_scenario
from sim.sweeps.experiment import load_experiment

# the experiments whose free parameters the baseline holds fitted values of: the history matching (the
# posterior's median) and the civilians' exposure
CALIBRATION_EXPERIMENTS = ("history-matching", "civilians")
CALIBRATED = "calibrated"  # the name of the block listing every free parameter
# the first suffix a name ends with gives its unit (longer suffixes first)
UNIT_SUFFIXES = (
    ("_fighter_h", "fighter-hours"),
    ("_m_per_h", "metres per hour"),
    ("_per_day", "per day"),
    ("_per_h", "per hour"),
    ("_per_shell", "per shell"),
    ("_per_shot", "per shot"),
    ("_m2", "m²"),
    ("_km", "km"),
    ("_cells", "cells"),
    ("_m", "metres"),
    ("_h", "hours"),
)
BLOCK = re.compile(r"<!-- parameters:(?P<name>[a-z_]+):begin -->\n(?P<body>.*?)<!-- parameters:(?P=name):end -->", re.S)


class OddError(Exception):
    """A document whose generated blocks cannot be rewritten; the message names the file."""


def unit(name: str, annotation: Any) -> str:
    """The unit of a parameter, read off its name's suffix (or its type for dates, switches, choices and lists)."""
    if annotation is bool:
        return "true / false"
    if get_origin(annotation) is Literal:
        return "choice"
    if dt.datetime in getattr(annotation, "__args__", (annotation,)):
        return "date and time"
    if getattr(annotation, "__origin__", None) is list:
        return "list"
    return next((text for suffix, text in UNIT_SUFFIXES if name.endswith(suffix)), "dimensionless")


def allowed(info: FieldInfo) -> str:
    """The range the schema allows, from the field's constraints: ``[0, 1]``, ``> 0``, a choice's values, or ``any``."""
    if get_origin(info.annotation) is Literal:
        return " or ".join(f"`{value}`" for value in get_args(info.annotation))
    low = high = None
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            low = f"[{_number(bound.ge)}"
        elif isinstance(bound, annotated_types.Gt):
            low = f"({_number(bound.gt)}"
        elif isinstance(bound, annotated_types.Le):
            high = f"{_number(bound.le)}]"
        elif isinstance(bound, annotated_types.Lt):
            high = f"{_number(bound.lt)})"
    if low and high:
        return f"{low}, {high}"
    if low:
        return (">= " if low[0] == "[" else "> ") + low[1:]
    if high:
        return ("<= " if high[-1] == "]" else "< ") + high[:-1]
    return "any"


def split_description(text: str) -> tuple[str, str]:
    """A description's meaning and its closing parenthesis (the provenance), or ``""`` when it has none."""
    text = text.strip()
    if not text.endswith(")"):
        return text, ""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return text[:i].rstrip(), text[i + 1 : -1].strip()
    return text, ""


def free_parameters() -> dict[str, tuple[str, float | None, float | None]]:
    """Every parameter a calibration experiment leaves free: dotted path -> (experiment, low, high)."""
    free = {}
    for name in CALIBRATION_EXPERIMENTS:
        for parameter in load_experiment(name).parameters:
            free[parameter.path] = (name, parameter.low, parameter.high)
    return free


def rule_table(rule: str, params: BaseModel, free: dict[str, tuple[str, float | None, float | None]]) -> str:
    """The Markdown table of one rule's parameters at the values ``params`` holds."""
    module = type(params).__module__
    lines = [
        f"Parameters of `rules.{rule}` ([{module.replace('.', '/')}.py](../{module.replace('.', '/')}.py)):",
        "",
        "| parameter | baseline | unit | allowed | provenance | meaning |",
        "| --- | ---: | --- | --- | --- | --- |",
    ]
    for field, info in type(params).model_fields.items():
        meaning, provenance = split_description(info.description or "")
        path = f"rules.{rule}.{field}"
        if path in free:
            provenance = _calibrated(*free[path])
        row = (
            f"`{field}`",
            _value(getattr(params, field)),
            unit(field, info.annotation),
            allowed(info),
            provenance or "not stated",
            meaning,
        )
        lines.append("| " + " | ".join(_cell(text) for text in row) + " |")
    return "\n".join(lines) + "\n"


def calibrated_table(scenario: Scenario, free: dict[str, tuple[str, float | None, float | None]]) -> str:
    """The Markdown table of every free parameter of the calibration experiments, at the scenario's values."""
    tree = scenario.model_dump()
    lines = ["| parameter | baseline | fitted by |", "| --- | ---: | --- |"]
    for path, spec in free.items():
        lines.append(f"| `{path}` | {_value(_value_at(tree, path))} | {_cell(_calibrated(*spec))} |")
    return "\n".join(lines) + "\n"


def blocks(scenario: Scenario | None = None) -> dict[str, str]:
    """Every generated block of ``docs/odd.md`` by name (each rule's, and ``calibrated``), at ``scenario``'s values."""
    scenario = scenario if scenario is not None else load_scenario()
    free = free_parameters()
    generated = {rule: rule_table(rule, params, free) for rule, params in scenario.rules}
    generated[CALIBRATED] = calibrated_table(scenario, free)
    return generated


def render(text: str, generated: dict[str, str], source: str = "docs/odd.md") -> str:
    """``text`` with each marked block's body replaced by its generated table; every block must be there once."""
    found = [match["name"] for match in BLOCK.finditer(text)]
    missing = sorted(set(generated) - set(found))
    unknown = sorted(set(found) - set(generated))
    twice = sorted({name for name in found if found.count(name) > 1})
    for problem, names in (("no block for", missing), ("a block for no such table", unknown), ("two blocks", twice)):
        if names:
            raise OddError(f"{source}: parameters: {problem} {', '.join(names)}")
    return BLOCK.sub(lambda m: _block(m["name"], generated[m["name"]]), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated blocks of the Markdown file named in ``argv`` (``python -m sim.odd docs/odd.md``)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sim.odd FILE.md", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        text = path.read_text(encoding="utf-8")
        path.write_text(render(text, blocks(), str(path)), encoding="utf-8")
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    except OddError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def _block(name: str, body: str) -> str:
    return f"<!-- parameters:{name}:begin -->\n{body}<!-- parameters:{name}:end -->"


def _calibrated(experiment: str, low: float | None, high: float | None) -> str:
    bounds = f", bounds {_number(low)}-{_number(high)}" if low is not None and high is not None else ""
    return f"calibrated: [experiments/{experiment}.yaml](../experiments/{experiment}.yaml){bounds}"


def _value_at(tree: Any, path: str) -> Any:
    for key in path.split("."):
        tree = tree[int(key)] if isinstance(tree, list) else tree[key]
    return tree


def _number(value: float) -> str:
    return f"{value:g}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value) or "(empty)"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.exit(main())

import functools
import re
from pathlib import Path
from typing import Literal

import pytest

import sim.odd
from sim.model import BattleModel
from sim.odd import OddError, allowed, blocks, main, render, split_description, unit
from sim.record import load_record
from sim.rules import VillagesParams
from sim.scenario import load_scenario
from tests.conftest import small_scenario

ODD = Path(__file__).resolve().parent.parent / "docs" / "odd.md"
PROVENANCES = ("assumption", "record", "calibrated", "policy input", "counterfactual")


@pytest.fixture(scope="module", autouse=True)
def _free_parameters_read_once():
    """``blocks()`` and the command read the calibration experiments' free parameters on every call, which loads
    and checks each of their design points (2-3 s); they are the same for every test here: read once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sim.odd, "free_parameters", functools.cache(sim.odd.free_parameters))
        yield


def row(table: str, name: str) -> list[str]:
    """The cells of the row of parameter ``name`` in a generated table."""
    line = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_the_tables_in_docs_odd_md_are_the_generated_ones():
    text = ODD.read_text(encoding="utf-8")
    assert render(text, blocks()) == text, "docs/odd.md's parameter tables drifted: run `make docs`"


def test_a_parameter_row_carries_its_baseline_value_and_provenance():
    baseline = load_scenario()
    tables = blocks(baseline)
    fitted = row(tables["control"], "clear_fighter_h")
    assert fitted[1] == f"{baseline.rules.control.clear_fighter_h:g}"
    assert fitted[2] == "fighter-hours"
    assert fitted[4].startswith("calibrated: [experiments/history-matching.yaml]")
    assert "bounds 40-400" in fitted[4]
    fixed = row(tables["control"], "sector_hold_share")
    assert fixed[1:5] == ["0.75", "dimensionless", "(0.5, 1]", "assumption"]
    assert row(tables["fire_support"], "civilian_exposure")[4].startswith("calibrated: [experiments/civilians.yaml]")
    free = row(tables["calibrated"], "hezbollah_tactics.0.effectiveness")
    assert free[1] == f"{baseline.hezbollah_tactics[0].effectiveness:g}"
    matched = "[experiments/history-matching.yaml](../experiments/history-matching.yaml)"
    assert free[2] == f"calibrated: {matched}, bounds 1-4"


def test_a_table_shows_the_scenario_it_is_given():
    changed = load_scenario(overrides=["rules.control.sector_hold_share=0.9", "rules.corridor.enabled=false"])
    tables = blocks(changed)
    assert row(tables["control"], "sector_hold_share")[1] == "0.9"
    assert row(tables["corridor"], "enabled")[1:3] == ["false", "true / false"]


def test_every_parameter_says_where_its_value_comes_from():
    for name, table in blocks().items():
        column = 2 if name == "calibrated" else 4
        for line in table.splitlines():
            if line.startswith("| `"):
                provenance = [cell.strip() for cell in line.strip("|").split(" | ")][column]
                assert any(word in provenance for word in PROVENANCES), (name, line)


def test_every_rule_has_a_table():
    assert set(blocks()) == {name for name, _ in load_scenario().rules} | {"calibrated"}


@pytest.mark.parametrize(
    ("name", "annotation", "expected"),
    [
        ("clear_fighter_h", float, "fighter-hours"),
        ("speed_m_per_h", float, "metres per hour"),
        ("ammo_per_h", float, "per hour"),
        ("surprise_h", float, "hours"),
        ("flee_per_day", float, "per day"),
        ("lethal_area_m2", float, "m²"),
        ("range_cells", int, "cells"),
        ("x_km", float, "km"),
        ("cell_m", float, "metres"),
        ("break_share", float, "dimensionless"),
        ("enabled", bool, "true / false"),
        ("mines", Literal["kill", "delay"], "choice"),
        ("order", Literal["plan", "routes"], "choice"),
    ],
)
def test_the_unit_is_read_off_the_name(name, annotation, expected):
    assert unit(name, annotation) == expected


def test_a_choice_lists_its_values():
    assert row(blocks()["movement"], "mines")[3] == "`kill` or `delay`"


def test_a_choice_allows_its_named_values():
    assert allowed(VillagesParams.model_fields["order"]) == "`plan` or `routes`"


def test_the_provenance_is_the_closing_parenthesis():
    assert split_description("hours from the start (19 May 00:00) of the surprise (assumption: the AP's (hours))") == (
        "hours from the start (19 May 00:00) of the surprise",
        "assumption: the AP's (hours)",
    )
    assert split_description("no parenthesis") == ("no parenthesis", "")


def test_a_document_missing_a_block_is_refused_naming_the_file_and_the_rule():
    text = ODD.read_text(encoding="utf-8")
    damaged = re.sub(r"<!-- parameters:fire:begin -->.*?<!-- parameters:fire:end -->\n", "", text, flags=re.S)
    with pytest.raises(OddError, match=r"^docs/odd\.md: parameters: no block for fire$"):
        render(damaged, blocks())
    with pytest.raises(OddError, match="a block for no such table speed"):
        render(text + "<!-- parameters:speed:begin -->\n<!-- parameters:speed:end -->\n", blocks())


def test_the_command_rewrites_the_tables_and_nothing_else(tmp_path, capsys):
    text = ODD.read_text(encoding="utf-8")
    stale = tmp_path / "odd.md"
    stale.write_text(text.replace("| `surrender_odds` |", "| `surrender_odds_old` |"), encoding="utf-8")
    assert main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text
    assert main([str(tmp_path / "none.md")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'none.md'}: no such file\n"


def test_every_record_id_cited_in_the_docs_exists():
    ids = {entry.id for entry in load_record().entries()}
    for path in sorted(ODD.parent.glob("*.md")):
        cited = set(re.findall(r"record:([a-z0-9-]+)", path.read_text(encoding="utf-8")))
        assert cited - ids == set(), path.name


def test_the_schedule_table_lists_the_phases_a_step_runs_in_their_order():
    schedule = ODD.read_text(encoding="utf-8").split("## 3. Process overview and scheduling", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| (\d+) \| `(\w+)` \|", schedule, flags=re.MULTILINE)
    model = BattleModel(small_scenario(), rng=1)
    assert [name for _, name in listed] == [phase.name for phase in model.phases]
    assert [int(n) for n, _ in listed] == list(range(1, len(listed) + 1))

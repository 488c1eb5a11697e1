import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.installation import shipped
from sim.record import load_record
from sim.rules import Rules
from sim.scenario import (
    Deployment,
    ScenarioError,
    deployment_weights,
    list_scenarios,
    load_scenario,
    scale_forces,
    scenario_path,
)

VARIANTS = ["attackers-5000", "attackers-8000", "no-hezbollah", "supply-open", "no-corridor"]


def test_the_baseline_and_every_variant_load():
    names = list_scenarios()
    assert "al-qusayr-2013" in names
    assert set(VARIANTS) <= set(names)
    for name in names:
        scenario = load_scenario(name)
        assert scenario.name == name


def test_baseline_forces_lie_inside_the_recorded_ranges():
    forces = load_scenario().forces
    assert forces.rebels.fighters == 1900
    assert forces.rebels.units == 15
    assert 5000 <= forces.army.fighters <= 6000
    assert 1700 <= forces.hezbollah.fighters <= 2000
    assert load_scenario().civilians.present == 25000
    assert load_scenario().town.sectors_per_side ** 2 == 16


@pytest.mark.parametrize("name", VARIANTS)
def test_a_variant_differs_from_its_base_only_in_what_it_overrides(name):
    own = yaml.safe_load(scenario_path(name).read_text())
    assert own["base"] == "al-qusayr-2013"
    base = load_scenario("al-qusayr-2013").model_dump()
    variant = load_scenario(name).model_dump()

    def leaves(tree, prefix=()):
        if isinstance(tree, dict):
            for key, value in tree.items():
                yield from leaves(value, (*prefix, key))
        else:
            yield prefix, tree

    def get(tree, path):
        for key in path:
            tree = tree[key]
        return tree

    overridden = {path for path, _ in leaves({k: v for k, v in own.items() if k != "base"})}
    changed = {path for path, value in leaves(variant) if get(base, path) != value}
    assert changed, "a variant must change something"
    assert changed <= overridden | {("name",), ("description",)}


NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?![\w:-])")


@pytest.mark.parametrize("path", sorted(shipped("scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_number_in_a_scenario_file_says_where_it_comes_from(path):
    """Each line holding a number carries a comment citing the record, or saying assumption or calibrated."""
    record_ids = {e.id for e in load_record().entries()}
    bad = []
    in_prose = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code, _, comment = line.partition("#")
        key = code.strip().split(":")[0]
        if in_prose and line.startswith("  "):
            continue  # the folded text of a description
        in_prose = code.strip() == "description: >"
        if key in ("name", "description", "cite", "- name") or not NUMBER.search(code):
            continue
        if not re.search(r"record:[a-z0-9-]+|assumption|calibrated|origin of the other places", comment):
            bad.append((number, line.strip()))
    assert bad == []
    cited = set(re.findall(r"record:([a-z0-9-]+)", path.read_text()))
    assert cited - record_ids == set(), "cited record ids must exist in the record"


def test_a_uniform_deployment_weighs_every_sector_alike():
    for k in range(1, 9):
        assert deployment_weights(Deployment(), k) == pytest.approx(np.ones((k, k)))


def test_each_leaning_of_the_deployment_favours_its_sectors_by_its_exponent():
    north = deployment_weights(Deployment(north=1.5), 4)
    assert north[0] == pytest.approx(np.full(4, np.exp(1.5)))  # the northern row
    assert north[3] == pytest.approx(np.ones(4))  # the southern row
    assert north[1] / north[2] == pytest.approx(np.full(4, np.exp(0.5)))  # a third of the way each row
    west = deployment_weights(Deployment(west=-2.0), 4)
    assert west[:, 0] == pytest.approx(np.full(4, np.exp(-2.0)))  # negative: the west emptier
    assert west[:, 3] == pytest.approx(np.ones(4))
    centre = deployment_weights(Deployment(centre=1.0), 4)
    e = np.exp(1.0)
    expected = [[1, e**0.5, e**0.5, 1], [e**0.5, e, e, e**0.5], [e**0.5, e, e, e**0.5], [1, e**0.5, e**0.5, 1]]
    assert centre == pytest.approx(np.array(expected))
    assert deployment_weights(Deployment(centre=1.0), 3)[1, 1] == pytest.approx(e)  # one middle sector
    assert deployment_weights(Deployment(centre=1.0), 2) == pytest.approx(np.ones((2, 2)))  # all corners


def test_the_leanings_multiply():
    both = deployment_weights(Deployment(north=0.7, west=0.4, centre=-0.3), 5)
    north, west, centre = (deployment_weights(Deployment(**{name: 1.0}), 5) for name in ("north", "west", "centre"))
    assert both == pytest.approx(north**0.7 * west**0.4 * centre**-0.3)


def test_the_baselines_deployment_is_strongest_in_the_north_west_and_weakest_in_the_south_east():
    scenario = load_scenario()
    weights = deployment_weights(scenario.forces.rebels.deployment, scenario.town.sectors_per_side)
    strongest = np.unravel_index(weights.argmax(), weights.shape)
    assert max(strongest) < 2  # in the north-west quarter: record:hezbollah-from-al-tal
    assert np.unravel_index(weights.argmin(), weights.shape) == (3, 3)  # record:assault-directions
    assert weights[:2].sum() > weights[2:].sum()  # record: "entrenched in the northern and western parts"


def test_a_deployment_path_is_addressable_by_an_override():
    scenario = load_scenario("al-qusayr-2013", ["forces.rebels.deployment.north=-1.5"])
    assert scenario.forces.rebels.deployment.north == -1.5
    weights = deployment_weights(scenario.forces.rebels.deployment, scenario.town.sectors_per_side)
    assert weights[3].sum() > weights[0].sum()


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["forces.army.colour=red"], ["forces.army.colour", "Extra inputs", "valid keys:", "fighters"]),
        (["forces.army.fighters=many"], ["forces.army.fighters", "integer"]),
        (["forces.army.fighters=-5"], ["forces.army.fighters", "greater than or equal to 0"]),
        (["town.sectors_per_side=5"], ["town", "tile the town"]),
        (["reinforcements.0.at=2013-07-01T00:00:00"], ["reinforcements.0.at", "outside the battle"]),
        (["fire_plans.2.start=2013-05-01T00:00:00"], ["fire_plans.2.start", "outside the battle"]),
        (["time.end=2013-08-01T00:00:00"], ["time", "outside the battle and the days after it"]),
        (["rules.fire.lethality=0.2"], ["rules.fire.lethality", "valid keys:", "range_cells"]),
        (["places.99.garrison=3"], ["places.99", "not an item"]),
        (["forces.rebels.deployment.west=inf"], ["forces.rebels.deployment.west", "finite"]),
        (["forces.rebels.deployment.centre=100"], ["forces.rebels.deployment.centre", "less than or equal to 20"]),
        (["forces.rebels.deployment.south=1"], ["forces.rebels.deployment.south", "valid keys:", "north"]),
        (["forces.army.fighters"], ["dotted.path=value"]),
    ],
)
def test_bad_overrides_name_the_field(overrides, fragments):
    with pytest.raises(ScenarioError) as info:
        load_scenario("al-qusayr-2013", overrides)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_a_bad_scenario_file_names_the_file_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: al-qusayr-2013\nname: bad\nforces:\n  hezbollah:\n    fighters: -1\n")
    # a base named by name resolves beside the file: copy the baseline next to it
    (tmp_path / "al-qusayr-2013.yaml").write_text(scenario_path("al-qusayr-2013").read_text())
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert "forces.hezbollah.fighters" in str(info.value)


def test_missing_files_and_base_loops_are_reported(tmp_path):
    with pytest.raises(ScenarioError, match=re.escape(f"{tmp_path / 'nope.yaml'}: no such scenario file")):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "a.yaml").write_text("base: b\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    with pytest.raises(
        ScenarioError, match=re.escape(f"{tmp_path / 'a.yaml'}: base: scenarios name each other in a loop")
    ):
        load_scenario(tmp_path / "a.yaml")


def test_cli_refuses_bad_input_with_status_2_no_traceback_and_nothing_written(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--set", "forces.rebels.fighters=-3", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "forces.rebels.fighters" in proc.stderr
    assert not out.exists()


def test_cli_unknown_scenario(capsys):
    assert main(["run", "no-such-scenario"]) == 2
    assert "no-such-scenario" in capsys.readouterr().err


def test_every_rule_parameters_default_is_the_baselines_value():
    # one source of truth: a rule's default is what the baseline runs, or there is none (a policy input)
    baseline = load_scenario().rules
    for rule in Rules.model_fields:
        params = getattr(baseline, rule)
        for name, field in type(params).model_fields.items():
            if field.is_required():
                assert "policy input" in field.description, f"{rule}.{name}"
            else:
                assert field.default == getattr(params, name), f"{rule}.{name}"


def test_every_rule_parameter_says_where_its_value_comes_from():
    baseline = load_scenario().rules
    for rule in Rules.model_fields:
        for name, field in type(getattr(baseline, rule)).model_fields.items():
            sources = ("assumption", "calibrated", "record", "policy input", "counterfactual")
            assert any(word in field.description for word in sources), f"{rule}.{name}: {field.description!r}"


def test_a_plan_naming_an_unknown_place_is_bad_input(capsys):
    assert main(["run", "--set", "rules.villages.plan=[Nowhere]"]) == 2
    assert "rules.villages.plan: ['Nowhere'] are not places" in capsys.readouterr().err


def test_the_bounds_on_counts_leave_room_for_the_scaling_checks():
    # qusayr bench --forces-scale 10: more than 100,000 fighters in all must still be a valid scenario
    scaled = scale_forces(load_scenario(), 10)
    forces = scaled.forces
    fighters = sum(f.fighters for f in (forces.rebels, forces.army, forces.hezbollah))
    assert fighters + sum(r.fighters for r in scaled.reinforcements) > 100_000

"""The project's dependencies as declared: bounds the code needs, test-only packages in ``dev``, pins."""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
CONSTRAINTS = REPO_ROOT / "constraints.txt"


def _requirements(group: str | None = None) -> dict[str, Requirement]:
    lines = PROJECT["dependencies"] if group is None else PROJECT["optional-dependencies"][group]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _pinned() -> dict[str, Version]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_scipy_is_new_enough_for_the_rng_argument_of_its_samplers():
    uses_rng = re.search(r"qmc\.\w+\(.*rng=", (REPO_ROOT / "sim" / "sweeps" / "designs.py").read_text())
    assert uses_rng
    assert not _requirements()["scipy"].specifier.contains("1.14.1")
    assert _requirements()["scipy"].specifier.contains("1.15.0")


def test_test_only_packages_are_in_dev_and_the_linter_is_pinned():
    assert "playwright" in _requirements("dev")
    assert all("playwright" not in _requirements(group) for group in PROJECT["optional-dependencies"] if group != "dev")
    assert str(_requirements("dev")["ruff"].specifier).startswith("==")


def test_the_constraints_pin_every_declared_dependency_within_its_bounds():
    pins = _pinned()
    groups = [None, *PROJECT["optional-dependencies"]]
    for requirement in (r for group in groups for r in _requirements(group).values()):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} outside {requirement.specifier}"


def test_make_installs_with_the_constraints_and_the_licence_ships():
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--constraint constraints.txt" in makefile
    assert PROJECT["license-files"] == ["LICENSE"]
    licence = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence
    assert "CC BY-SA 4.0" in licence

"""Pattern-oriented tests of competing sub-models (Grimm et al. 2005, Science 310: 987-991).

A pattern test (``experiments/patterns/<name>.yaml``, schema ``PatternTest``) names pairs of
alternative sub-models, each alternative a set of overrides of one scenario (a switch: mines that kill
or delay, a forward defence or a redoubt, villages in a fixed order or by the routes they open). Each
alternative is run as an ensemble on common seeds (``sim.analysis.validate``) and scored on every
pattern of the record at once (``sim.analysis.validate.PATTERNS``: the daily share, the per-sector
order, the order of the captures, the first day's toll, the fall day, casualties by side, the
encirclement and captures). A pattern **rejects** an alternative when one of its checks misses; a
pattern **discriminates** a pair when it rejects one alternative and not the other. Alternatives that
resolve to the same scenario share one ensemble.

Methods: docs/methods.md, section 5 (validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from sim.analysis.validate import PATTERNS, Check, ValidationResult, validate
from sim.installation import named_input
from sim.loading import InputModel, LoadError, load
from sim.record import Record
from sim.scenario import ScenarioError, load_scenario

ENSEMBLES_DIR = "ensembles"
MAX_RUNS = 10_000  # seeds per alternative, as ``qusayr validate``'s bound


class PatternTestError(LoadError):
    """A pattern test that cannot be used (one line per problem, naming the file and the field)."""


class Alternative(InputModel):
    """One sub-model: the scenario with these overrides."""

    name: str = Field(min_length=1, description="what the alternative is called in the report")
    says: str = Field(min_length=1, description="what the sub-model holds, in a sentence")
    set: list[str] = Field(default_factory=list, description="scenario overrides (PATH=VALUE), as --set takes them")


class Pair(InputModel):
    """A question with competing answers."""

    question: str = Field(min_length=1)
    alternatives: list[Alternative] = Field(min_length=2, max_length=2)


class PatternTest(InputModel):
    """Pairs of alternative sub-models of one scenario, each scored on every pattern."""

    name: str
    description: str
    scenario: str
    runs: int = Field(ge=2, le=MAX_RUNS, description="seeds per alternative (common to all)")
    master_seed: int = Field(1, ge=0)
    pairs: list[Pair] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique(self) -> PatternTest:
        names = [a.name for pair in self.pairs for a in pair.alternatives]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"alternatives must have different names; repeated: {', '.join(repeated)}")
        return self


def pattern_test_path(name_or_path: str | Path) -> Path:
    """A pattern test's file: a path, or ``experiments/patterns/<name>.yaml``."""
    return named_input(name_or_path, "pattern tests", PatternTestError)


def load_pattern_test(name_or_path: str | Path) -> PatternTest:
    """Read a pattern test and check that every alternative's overrides make a valid scenario."""
    path = pattern_test_path(name_or_path)
    test = load(PatternTest, path, "pattern test", PatternTestError)
    try:
        load_scenario(test.scenario)
    except ScenarioError as exc:
        raise PatternTestError(f"{path}: scenario: {exc}") from None
    for i, pair in enumerate(test.pairs):
        for j, alternative in enumerate(pair.alternatives):
            try:
                load_scenario(test.scenario, alternative.set)
            except ScenarioError as exc:
                raise PatternTestError(f"{path}: pairs.{i}.alternatives.{j}.set: {exc}") from None
    return test


@dataclass
class AlternativeResult:
    """One alternative's ensemble held against the record."""

    question: str
    alternative: Alternative
    validation: ValidationResult

    def checks_of(self, pattern: str) -> list[Check]:
        """The validation's checks that make up ``pattern``."""
        return [c for c in self.validation.checks if c.pattern == pattern]

    def passes(self, pattern: str) -> bool:
        """Whether every check of ``pattern`` is met."""
        return all(c.passed for c in self.checks_of(pattern))

    def rejected_by(self) -> list[str]:
        """The patterns that reject this alternative."""
        return [p for p in PATTERNS if not self.passes(p)]


@dataclass
class PatternTestResult:
    """Every alternative of a pattern test, in the file's order."""

    test: PatternTest
    alternatives: list[AlternativeResult]

    def pairs(self) -> list[tuple[str, AlternativeResult, AlternativeResult]]:
        """Per pair of the test: its question and its two alternatives' results."""
        results = iter(self.alternatives)
        return [(pair.question, next(results), next(results)) for pair in self.test.pairs]


def discriminating(a: AlternativeResult, b: AlternativeResult) -> dict[str, str]:
    """Pattern -> the name of the alternative it rejects, for the patterns that reject one of the two only."""
    return {p: (a if not a.passes(p) else b).alternative.name for p in PATTERNS if a.passes(p) != b.passes(p)}


def run_pattern_test(
    name_or_path: str | Path,
    out: Path,
    *,
    record: Record,
    runs: int | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
) -> PatternTestResult:
    """Run (or resume) each alternative's ensemble under ``out/ensembles/`` and score it.

    Alternatives resolving to the same scenario share one ensemble, run with the first one's
    overrides; its folder is named by the scenario's sha256, the runs and the master seed, so that a
    rerun resumes it.
    """
    test = load_pattern_test(name_or_path)
    count = runs or test.runs
    done: dict[str, ValidationResult] = {}  # scenario sha256 -> its ensemble, held against the record
    results = []
    for pair in test.pairs:
        for alternative in pair.alternatives:
            sha = load_scenario(test.scenario, alternative.set).sha256()
            if sha not in done:
                if not quiet:
                    print(f"{pair.question}: {alternative.name}", flush=True)
                done[sha] = validate(
                    test.scenario,
                    alternative.set,
                    count,
                    out / ENSEMBLES_DIR / f"{sha[:16]}-runs{count}-seed{test.master_seed}",
                    record=record,
                    master_seed=test.master_seed,
                    workers=workers,
                    cluster=cluster,
                    quiet=quiet,
                )
            results.append(AlternativeResult(pair.question, alternative, done[sha]))
    return PatternTestResult(test, results)

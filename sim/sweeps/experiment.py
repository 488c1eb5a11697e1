"""Experiment files: what to vary, how (the design), how often (replicates), and the seeds.

An experiment names a scenario, fixed overrides (``set``), the parameters to vary (dotted paths
into the scenario, each with ``low``/``high`` bounds or a list of ``values``), a design (``grid``,
``lhs``, ``sobol``, ``nolh``) with its number of points, the replicates per point, and a master
seed. Bounded parameters follow the design; value lists are crossed with it (a small factorial,
as data farming does for discrete factors). Run ``r`` of point ``p`` gets its seed from
``SeedSequence(master_seed).spawn(points)[p].spawn(replicates)[r]``, so a run's seed depends only
on the experiment, its point and its replicate. A run's id hashes the scenario, the point's values
and the replicate.

Loading an experiment checks every design point (and each bounded parameter at its low and its
high, which calibration and sensitivity search) against the scenario before anything runs. A
sweep reads its scenario file once (``ScenarioSource``) and builds every run's scenario from that
reading, so editing the file while it runs changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, JsonValue, model_validator

from sim.installation import named_input
from sim.loading import InputModel, LoadError, SafeName, load, parse
from sim.scenario import Scenario, ScenarioError, apply_overrides, read_raw_scenario, scenario_path
from sim.sweeps import designs

MAX_RUNS = 1_000_000  # assumption: a million runs is weeks of the 2-core machine; bigger is a mistake


class Parameter(InputModel):
    """A parameter to vary: a dotted path into the scenario, with bounds or a list of values."""

    path: str = Field(min_length=1)
    low: float | None = None
    high: float | None = None
    integer: bool = Field(False, description="round the design's values to whole numbers")
    source: str = Field("", description="where the bounds come from: the record, the literature, or an assumption")
    values: list[JsonValue] | None = Field(
        None, max_length=1_000, description="at most 1,000 (assumption: a discrete factor has a few levels)"
    )

    @model_validator(mode="after")
    def _bounds_or_values(self) -> Parameter:
        bounded = self.low is not None or self.high is not None
        if bounded and self.values is not None:
            raise ValueError("give either low/high or values, not both")
        if not bounded and not self.values:
            raise ValueError("give low and high, or a non-empty list of values")
        if bounded:
            if self.low is None or self.high is None:
                raise ValueError("give both low and high")
            if self.low > self.high:
                raise ValueError(f"bounds reversed: low {self.low} is above high {self.high}")
        return self


class Refine(InputModel):
    """How ``qusayr calibrate`` refines inside the plausible region (Optuna TPE)."""

    trials: int = Field(
        40, ge=1, le=100_000, description="parameter sets tried (at most 100,000, assumption: TPE needs hundreds)"
    )
    replicates: int = Field(
        4, ge=1, le=10_000, description="runs (common seeds) per parameter set (at most 10,000, as an experiment's)"
    )
    parallel: int = Field(
        2, ge=1, le=1_000, description="parameter sets evaluated at once (at most 1,000, assumption: a large cluster)"
    )
    confirm_top: int = Field(
        5, ge=1, le=1_000, description="best trials run again on fresh seeds to choose among them (assumption)"
    )
    confirm_replicates: int = Field(
        16,
        ge=1,
        le=10_000,
        description="runs (common seeds) per trial confirmed (assumption: 4 times the refinement's; at most 10,000)",
    )


class Calibration(InputModel):
    """Settings of ``qusayr calibrate``: the screening cut-off and the refinement."""

    implausibility: float = Field(
        3.0, gt=0, description="keep design points whose second-largest target distance is at most this"
    )
    refine: Refine = Refine()
    check_runs: int = Field(
        20, ge=1, le=10_000, description="runs of the fitted values scored at the end (at most 10,000)"
    )
    targets: list[str] | None = Field(
        None,
        min_length=1,
        max_length=1_000,
        description="fit only to these targets (ids of sim.analysis.targets; default: the whole record)",
    )


class Prior(InputModel):
    """A uniform prior of an input, with where its range comes from."""

    low: float
    high: float
    source: str = Field(min_length=1, description="the record, the literature, or a stated assumption")


class ObservationSettings(InputModel):
    """The observation model's inputs: the sides' biases (priors), the noise of a share and the discrepancy."""

    share_bias_government: Prior = Prior(
        low=0.0,
        high=0.25,
        source="assumption: a government source may put the attackers' share up to 25 points above the truth",
    )
    share_bias_opposition: Prior = Prior(
        low=0.0,
        high=0.25,
        source="assumption: an opposition source may put the attackers' share up to 25 points below the truth",
    )
    share_noise_sd: float = Field(
        0.05,
        ge=0,
        le=1,
        description="noise of a share beyond its stated interval (assumption: the interval already reads a "
        "point figure as +/- 10 points)",
    )
    discrepancy_share: float = Field(
        0.05, ge=0, le=1, description="the model's discrepancy on a share (assumption: 5 points of the town)"
    )
    discrepancy_day: float = Field(
        0.5, ge=0, le=30, description="the model's discrepancy on the day of an event (assumption: half a day)"
    )
    discrepancy_log: float = Field(
        0.2, ge=0, le=5, description="the model's discrepancy on a count of dead (assumption: log units, ~x1.2)"
    )

    @property
    def bias_priors(self) -> dict[str, Prior]:
        """The biases as inputs: name -> prior."""
        return {
            "share_bias_government": self.share_bias_government,
            "share_bias_opposition": self.share_bias_opposition,
        }


class Posterior(InputModel):
    """How ``qusayr match`` samples the posterior on the last wave's emulators (emcee's ensemble sampler)."""

    samples: int = Field(400, ge=10, le=100_000, description="input sets kept (at most 100,000)")
    walkers: int = Field(64, ge=4, le=10_000, description="walkers of the ensemble sampler (at least twice the inputs)")
    steps: int = Field(2_000, ge=10, le=1_000_000, description="steps of each walker, burn-in included")
    burn: int = Field(1_000, ge=0, le=1_000_000, description="steps dropped at the start of each walker")


class HistoryMatching(InputModel):
    """Settings of ``qusayr match``: waves of runs, emulators and implausibility, then the posterior.

    Wave 1 runs the experiment's own design over the priors (``parameters``); each later wave runs
    ``wave_points`` points drawn from the space not yet ruled out, each ``replicates`` times.
    """

    observation: ObservationSettings = ObservationSettings()
    cutoff: float = Field(3.0, gt=0, description="implausibility above which inputs are ruled out (Pukelsheim's 3)")
    rank: int = Field(
        2,
        ge=1,
        le=10,
        description="rule out by the rank-th largest implausibility (2: one target may miss, against an emulator's "
        "or a claim's outlier; Vernon et al. 2010)",
    )
    wave_points: int = Field(400, ge=2, le=100_000, description="points of each wave after the first")
    max_waves: int = Field(4, ge=1, le=20, description="waves at most")
    min_waves: int = Field(
        1,
        ge=1,
        le=20,
        description="waves at least, however little a wave shrinks the space (a tiny space's fraction is measured "
        "on a handful of draws)",
    )
    stop_shrink: float = Field(
        0.8,
        gt=0,
        le=1,
        description="stop when a wave keeps more than this share of the space the previous waves left",
    )
    candidates: int = Field(
        50_000, ge=1_000, le=2_000_000, description="uniform draws over the priors that measure the space left"
    )
    posterior: Posterior = Posterior()
    predictive_runs: int = Field(
        200, ge=1, le=100_000, description="runs of the posterior predictive, one per input set of the posterior"
    )
    sbc_replications: int = Field(
        10, ge=0, le=1_000, description="synthetic records refitted by simulation-based calibration (0: none)"
    )
    sbc_steps: int = Field(
        600,
        ge=10,
        le=1_000_000,
        description="steps of each walker in a synthetic record's refit, the first half burn-in (assumption: the "
        "refits start where the synthetic record is most likely)",
    )


class Experiment(InputModel):
    """A sweep: a scenario, parameters, a design, replicates and a master seed."""

    name: SafeName
    description: str = ""
    scenario: str
    set: list[str] = Field([], max_length=1_000, description="fixed overrides applied to every run (at most 1,000)")
    parameters: list[Parameter] = Field(
        [],
        max_length=100,
        description="none: every run at the scenario's own values (at most 100, assumption: nolh takes 29 factors)",
    )
    design: Literal["grid", "lhs", "sobol", "nolh", "given"] = "grid"
    given: list[dict[str, float]] | None = Field(
        None,
        max_length=100_000,
        description="with design given: the points, each a value for every bounded parameter (at most 100,000)",
    )
    points: int = Field(
        1,
        ge=1,
        le=100_000,
        description="design points (for grid: about levels ** factors; at most 100,000, assumption: far more "
        "than a screening or a response surface needs)",
    )
    replicates: int = Field(
        ge=1, le=10_000, description="runs (seeds) per point (at most 10,000, assumption: ensembles of 50-200)"
    )
    master_seed: int = Field(ge=0, le=2**64 - 1, description="a 64-bit seed")
    calibration: Calibration | None = Field(None, description="settings for qusayr calibrate")
    history_matching: HistoryMatching | None = Field(None, description="settings for qusayr match")

    @model_validator(mode="after")
    def _given_points(self) -> Experiment:
        if (self.design == "given") != (self.given is not None):
            raise ValueError("give the points (given) exactly when the design is given")
        if self.given is not None:
            if len(self.given) != self.points:
                raise ValueError(f"points is {self.points} but {len(self.given)} points are given")
            bounds = {p.path: (p.low, p.high) for p in self.bounded}
            for i, point in enumerate(self.given):
                if set(point) != set(bounds):
                    raise ValueError(f"given point {i}: gives {sorted(point)}, not the bounded parameters")
                for path, value in point.items():
                    low, high = bounds[path]
                    if not (low <= value <= high and math.isfinite(value)):
                        raise ValueError(f"given point {i}: {path} = {value!r} is outside [{low}, {high}]")
        return self

    @model_validator(mode="after")
    def _bounded_runs(self) -> Experiment:
        rows = self.points if self.bounded else 1  # a grid's levels ** factors is about as many
        runs = rows * math.prod(len(p.values) for p in self.listed) * self.replicates
        if runs > MAX_RUNS:
            raise ValueError(
                f"{runs:,} runs (points x value combinations x replicates), more than {MAX_RUNS:,}; "
                "split the experiment"
            )
        return self

    @property
    def bounded(self) -> list[Parameter]:
        """The parameters that follow the design."""
        return [p for p in self.parameters if p.values is None]

    @property
    def listed(self) -> list[Parameter]:
        """The parameters given as value lists (crossed with the design)."""
        return [p for p in self.parameters if p.values is not None]


class ExperimentError(LoadError):
    """An experiment that cannot be run; the message names the file and the field."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its id, point, replicate, seed and overrides."""

    run_id: str
    point: int
    replicate: int
    seed: int
    values: dict[str, Any]
    overrides: tuple[str, ...]


def experiment_path(name_or_path: str | Path) -> Path:
    """An experiment's file: a path as given, or ``experiments/<name>.yaml``."""
    return named_input(name_or_path, "experiments", ExperimentError)


def override_text(path: str, value: Any) -> str:
    """A ``--set`` string for ``value``, written so that YAML reads it back unchanged."""
    if isinstance(value, float) and value.is_integer():
        value = int(value) if abs(value) < 2**53 else value
    return f"{path}={json.dumps(value)}"


@dataclass(frozen=True)
class ScenarioSource:
    """A scenario file read once (merged onto its bases, not yet validated): every scenario built from it."""

    path: Path
    raw: dict[str, Any]

    @classmethod
    def read(cls, name_or_path: str | Path) -> ScenarioSource:
        """Read the scenario's file (and its bases); raise ScenarioError."""
        path = scenario_path(name_or_path)
        return cls(path, read_raw_scenario(path))

    def build(self, overrides: list[str] | tuple[str, ...], label: str | None = None) -> Scenario:
        """The validated scenario with these overrides, as ``load_scenario`` would give it had the file not changed.

        Errors start with ``label`` (default: the file and the overrides, as ``load_scenario`` words them).
        """
        if label is None:
            label = str(self.path) + (f" (with --set {' '.join(overrides)})" if overrides else "")
        try:
            return parse(Scenario, apply_overrides(self.raw, list(overrides)), label, ScenarioError)
        except ScenarioError as exc:
            if label and not str(exc).startswith(label):  # an override that does not fit the file's shape
                raise ScenarioError(f"{label}: {exc}") from None
            raise


def _refusal(source: ScenarioSource, base: list[str], values: dict[str, Any], label: str) -> str | None:
    """Why the scenario refuses these values (one line starting with ``label``), or None."""
    try:
        source.build([*base, *(override_text(k, v) for k, v in values.items())], label)
    except ScenarioError as exc:
        lines = str(exc).splitlines()
        return "; ".join([lines[0], *(line.removeprefix(f"{label}: ") for line in lines[1:])])
    return None


def check_points(experiment: Experiment, path: Path, source: ScenarioSource) -> None:
    """Raise ExperimentError naming the parameter, value and point the scenario refuses, if any.

    Each parameter alone at each value it can take (a list's values, the bounds' low and high), then
    every design point; a point refused though each of its values passed alone is named whole.
    """
    for i, parameter in enumerate(experiment.parameters):
        if parameter.values is not None:
            probes = [(value, "") for value in parameter.values]
        else:
            ends = (parameter.low, parameter.high)
            low, high = (round(v) for v in ends) if parameter.integer else ends
            probes = [(low, " (its low)"), (high, " (its high)")]
        for value, which in probes:
            label = f"{path}: parameters.{i} (path {parameter.path!r}): value {value!r}{which}"
            if (reason := _refusal(source, experiment.set, {parameter.path: value}, label)) is not None:
                raise ExperimentError(reason)
    for point, values in enumerate(design_values(experiment)):
        if _refusal(source, experiment.set, values, "") is None:
            continue
        for i, parameter in enumerate(experiment.parameters):
            value = values[parameter.path]
            label = f"{path}: parameters.{i} (path {parameter.path!r}): value {value!r} at point {point}"
            if (reason := _refusal(source, experiment.set, {parameter.path: value}, label)) is not None:
                raise ExperimentError(reason)
        listed = ", ".join(f"{k}={v!r}" for k, v in values.items())
        label = f"{path}: parameters at point {point} ({listed})"
        raise ExperimentError(_refusal(source, experiment.set, values, label))


def load_experiment(name_or_path: str | Path) -> Experiment:
    """Read and validate an experiment; check its design and every point of it; raise ExperimentError."""
    path = experiment_path(name_or_path)
    experiment = load(Experiment, path, "experiment", ExperimentError)
    try:
        source = ScenarioSource.read(experiment.scenario)
        source.build(experiment.set)
    except ScenarioError as exc:
        raise ExperimentError(f"{path}: scenario / set: {exc}") from None
    if experiment.bounded and experiment.design != "given":
        factors = len(experiment.bounded)
        try:
            minimum = designs.minimum_points(experiment.design, factors)
        except designs.DesignError as exc:
            raise ExperimentError(f"{path}: design: {exc}") from None
        if experiment.points < minimum:
            raise ExperimentError(
                f"{path}: points: the {experiment.design} design needs at least {minimum} points "
                f"for {factors} factor(s), got {experiment.points}"
            )
    check_points(experiment, path, source)
    return experiment


def design_values(experiment: Experiment) -> list[dict[str, Any]]:
    """The design points: for each, the value of every varied parameter."""
    rows: list[dict[str, Any]] = [{}]
    bounded = experiment.bounded
    if experiment.given is not None:
        rows = [dict(point) for point in experiment.given]
    elif bounded:
        unit = designs.unit_design(experiment.design, len(bounded), experiment.points, experiment.master_seed)
        scaled = designs.scale(unit, [p.low for p in bounded], [p.high for p in bounded], [p.integer for p in bounded])
        rows = [
            {p.path: (int(v) if p.integer else float(v)) for p, v in zip(bounded, row, strict=True)} for row in scaled
        ]
    listed = experiment.listed
    if listed:
        combos = designs.levels_design([p.values for p in listed])
        rows = [{**row, **dict(zip([p.path for p in listed], combo, strict=True))} for row in rows for combo in combos]
    return rows


def plan(experiment: Experiment, scenario_sha256: str) -> list[RunSpec]:
    """Every run of the experiment, in (point, replicate) order, with its seed and id."""
    points = design_values(experiment)
    per_point = np.random.SeedSequence(experiment.master_seed).spawn(len(points))
    runs = []
    for point, (values, sequence) in enumerate(zip(points, per_point, strict=True)):
        overrides = (*experiment.set, *(override_text(k, v) for k, v in values.items()))
        for replicate, child in enumerate(sequence.spawn(experiment.replicates)):
            seed = int(child.generate_state(1, dtype=np.uint32)[0])
            key = json.dumps([scenario_sha256, sorted(overrides), replicate]).encode()
            run_id = hashlib.sha256(key).hexdigest()[:16]
            runs.append(RunSpec(run_id, point, replicate, seed, values, overrides))
    return runs

"""The ``qusayr`` command: thin subcommands over the functions of ``sim``.

Bad input (a record, a scenario, an override) ends with one message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sim.output import save_figure, write_bytes, write_text
from sim.record import DEFAULT_RECORD_PATH, RecordError, describe, load_record, section_of
from sim.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario, scale_forces
from sim.sweeps.experiment import ExperimentError
from sim.sweeps.runner import RunFailedError

EXIT_BAD_INPUT = 2


def _cmd_record(args: argparse.Namespace) -> int:
    record = load_record(args.file)
    if args.json:
        print(json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return 0
    entries = record.entries()
    print(f"{record.battle}: {len(entries)} dated entries from {record.source.title!r} ({record.source.url})")
    print(f"day 0 = {record.day0.isoformat()};  leans: G government, O opposition, N neutral;  ~ date inferred")
    header = f"{'day':>4}  {'date':10}  {'section':8}  {'what':58}  {'lean':4}  source"
    print(header)
    print("-" * len(header))
    for entry in entries:
        mark = "~" if entry.date_basis == "inferred" else " "
        what = describe(entry)
        what = what if len(what) <= 58 else what[:55] + "..."
        print(
            f"{entry.day:>4}{mark} {entry.date.isoformat():10}  {section_of(entry):8}  {what:58}  "
            f"{entry.lean[0].upper():4}  {entry.source}"
        )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from sim.output import manifest
    from sim.plots import plot_control
    from sim.run import run

    scenario = load_scenario(args.scenario, args.set)
    record = load_record()
    out = args.out or Path("results") / f"{scenario.name}-seed{args.seed}"
    result = run(scenario, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_text(out / "manifest.json", json.dumps(manifest(scenario, args.seed, args.set), indent=1) + "\n")
    write_bytes(out / "series.parquet", result.series.to_parquet(index=False))
    save_figure(plot_control(summary, record=record).figure, out, "control", formats=("png",))
    print(f"scenario {summary['scenario']} (seed {summary['seed']}, {summary['days_simulated']} days)")
    by_day = ", ".join(str(n) for n in summary["gov_sectors_by_day"])
    print(f"  sectors held by the attackers at the end of each day: {by_day}")
    for key in ("encirclement_day", "withdrawal_day", "fall_day"):
        value = summary[key]
        print(f"  {key.replace('_', ' ')}: {'never' if value is None else value}")
    places = ", ".join(f"{k} {v}" for k, v in summary["places_captured"].items()) or "none"
    print(f"  places captured (day): {places}")
    for fate in ("killed", "wounded", "captured", "withdrawn"):
        print(f"  {fate}: " + ", ".join(f"{k} {v}" for k, v in summary[fate].items()))
    print(f"  written to {out}/ (summary.json, series.parquet, manifest.json, control.png)")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import resource
    import time

    from sim.run import run

    scenario = scale_forces(load_scenario(args.scenario, args.set), args.forces_scale)
    started = time.perf_counter()
    result = run(scenario, args.seed)
    seconds = time.perf_counter() - started
    summary = result.summary
    fighters = sum(summary["initial"][s] + summary["arrived"][s] for s in ("rebels", "army", "hezbollah"))
    steps = len(result.series) - 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    line = {"scenario": scenario.name, "fighters": fighters, "steps": steps, "seconds": round(seconds, 3)}
    line["peak_rss_mb"] = round(peak_mb, 1)
    print(json.dumps(line))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sim.sweeps.runner import sweep

    name = Path(args.experiment).stem
    out = args.out or Path("results") / "sweeps" / name
    status = sweep(args.experiment, out, workers=args.workers, cluster=args.cluster, quiet=args.quiet)
    if status:
        print(f"qusayr: some runs failed; see 'qusayr status {out}'", file=sys.stderr)
    return status


def _cmd_status(args: argparse.Namespace) -> int:
    import datetime as dt

    from sim.sweeps.ledger import LEDGER_NAME, Ledger

    if not (args.folder / LEDGER_NAME).is_file():
        print(f"qusayr: {args.folder}: no sweep here (no {LEDGER_NAME})", file=sys.stderr)
        return EXIT_BAD_INPUT
    ledger = Ledger(args.folder, read_only=True)
    try:
        meta, counts, failed, points = ledger.meta(), ledger.counts(), ledger.failed(), ledger.points()
        first, last = ledger.time_span()
    finally:
        ledger.close()
    experiment = meta["experiment"]
    total = sum(counts.values())
    print(
        f"experiment {experiment['name']} on scenario {experiment['scenario']} ({experiment['design']}, "
        f"{points} points x {experiment['replicates']} replicates, master seed {experiment['master_seed']})"
    )
    print(f"varied: {', '.join(p['path'] for p in experiment['parameters'])}")
    print(
        f"runs: {total}: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['pending'] + counts['running']} pending"
    )
    if first is not None and last is not None:
        print(f"elapsed: {dt.timedelta(seconds=round(last - first))} (first start to last end)")
    for run_id, point, replicate, error in failed:
        print(f"failed: {run_id} (point {point}, replicate {replicate}): {error}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from sim.plots import plot_outcome_vs_parameter, plot_sector_bands
    from sim.sweeps.ledger import LEDGER_NAME, Ledger
    from sim.sweeps.runner import RUNS_TABLE

    table = args.folder / RUNS_TABLE
    if not table.is_file() or not (args.folder / LEDGER_NAME).is_file():
        print(f"qusayr: {args.folder}: no finished sweep here (no {RUNS_TABLE})", file=sys.stderr)
        return EXIT_BAD_INPUT
    runs = pd.read_parquet(table)
    ledger = Ledger(args.folder, read_only=True)
    parameters = [p["path"] for p in ledger.meta()["experiment"]["parameters"]]
    ledger.close()
    plots = args.folder / "plots"
    plots.mkdir(exist_ok=True)
    written = []
    for outcome in ("fall_day", "killed_rebels", "encirclement_day"):
        for parameter in parameters:
            if runs[parameter].dtype == object:
                runs[parameter] = runs[parameter].astype(str)
            ax = plot_outcome_vs_parameter(runs, parameter, outcome)
            stem = f"{outcome}-vs-{parameter.replace('.', '_')}"
            written += save_figure(ax.figure, plots, stem, formats=("png",), dpi=110)
    written += save_figure(plot_sector_bands(runs).figure, plots, "sector-bands", formats=("png",), dpi=110)
    print(f"{len(written)} figures written to {plots}/")
    return 0


def _count(minimum: int):
    """An argparse type: a whole number at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _command_line() -> str:
    return "qusayr " + " ".join(sys.argv[1:])


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.validate import validate

    record = load_record()
    load_scenario(args.scenario, args.set)  # bad input stops here, before any folder is made
    out = args.out or Path("results") / "validate" / Path(args.scenario).stem
    result = validate(
        args.scenario,
        args.set,
        args.runs,
        out,
        record=record,
        master_seed=args.master_seed,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    fitted = result["fit"]
    print(
        f"{result['scenario']}: {fitted['runs']} runs, loss {fitted['loss']:.3f}, goodness of fit "
        f"{fitted['goodness_of_fit']:.2f} ({fitted['consistent']} of {fitted['compared']} fitted targets consistent)"
    )
    for check in result["checks"]:
        mark = "met " if check["passed"] else "MISS"
        print(f"  {mark}  {check['name']}: {check['measured']} (required {check['required']})")
    print(f"  written to {out}/ (validation.md, validation.json, control/sectors/casualties/strength .png .svg)")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibrate import calibrate

    record = load_record()
    name = Path(args.experiment).stem + (f"-until-d{args.train_until:02d}" if args.train_until is not None else "")
    out = args.out or Path("results") / "calibrate" / name
    result = calibrate(
        args.experiment,
        out,
        record=record,
        train_until=args.train_until,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    print(f"calibrated {len(result['fitted'])} parameters, confirmed loss {result['fitted_loss']:.3f}:")
    for path, value in result["fitted"].items():
        u = result["uncertainty"][path]
        print(f"  {path} = {value:.4g}  (range near the best: {u['low']:.4g} - {u['high']:.4g})")
    check = result["check"]
    print(f"  check ({check['runs']} runs): median fall day {check['fall_day_median']:.2f} (record 17)")
    if check["loss_later_targets"] is not None:
        print(f"  prediction of the targets after day {result['train_until']}: loss {check['loss_later_targets']:.3f}")
    print(f"  written to {out}/ (calibration.md, calibration.json, trials.csv, confirmed.csv, calibration.png/.svg)")
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.sensitivity import sensitivity

    out = args.out or Path("results") / "sensitivity" / f"{Path(args.experiment).stem}-{args.method}"
    table = sensitivity(
        args.experiment,
        out,
        method=args.method,
        size=args.size,
        replicates=args.replicates,
        workers=args.workers,
        cluster=args.cluster,
    )
    lead = "mu_star" if args.method == "morris" else "ST"
    for outcome, part in table[table["index"] == lead].groupby("outcome", sort=False):
        top = part.sort_values("value", ascending=False).head(3)
        ranked = ", ".join(f"{p.split('.')[-1]} {v:.3g}" for p, v in zip(top["parameter"], top["value"], strict=True))
        print(f"{outcome}: {lead} {ranked}")
    print(f"written to {out}/ (sensitivity.md, indices.csv, runs.parquet, sensitivity.png/.svg)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from sim.counterfactual import compare, summary_line

    load_scenario(args.scenario_a)
    load_scenario(args.scenario_b)
    stems = f"{Path(args.scenario_b).stem}-vs-{Path(args.scenario_a).stem}"
    out = args.out or Path("results") / "compare" / stems
    table = compare(
        args.scenario_a,
        args.scenario_b,
        args.runs,
        out,
        ensembles=args.ensembles,
        master_seed=args.master_seed,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    print(summary_line([Path(args.scenario_a).stem, Path(args.scenario_b).stem], table))
    print(f"written to {out}/ (compare.md, compare.json, differences.csv, compare.png/.svg)")
    return 0


def viz_command(scenario: str | Path, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve ``app.py`` for ``scenario`` on 127.0.0.1:``port``.

    Solara in production mode (no reloader), with its version check and telemetry off: the page
    reaches nothing off the machine.
    """
    from sim.output import REPO_ROOT
    from sim.viz import SCENARIO_VARIABLE

    command = [sys.executable, "-m", "solara", "run", str(REPO_ROOT / "app.py"), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-check-version", "--no-open", "--production"]
    env = {**os.environ, SCENARIO_VARIABLE: str(scenario), "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    return command, env


def _cmd_viz(args: argparse.Namespace) -> int:
    import importlib.util
    import subprocess

    load_scenario(args.scenario)  # bad input stops here, before a server starts
    if importlib.util.find_spec("solara") is None:
        print("qusayr: the web page needs the 'viz' extra: pip install -e '.[viz]' (make run does it)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.bench:
        from sim.record import load_record
        from sim.viz import LiveBattle, bench

        timing = bench(
            LiveBattle(variant=args.scenario), load_record(), redraws=args.bench, steps_per_redraw=args.steps_per_redraw
        )
        print(json.dumps(timing))
        return 0
    command, env = viz_command(args.scenario, args.port)
    if not Path(command[4]).is_file():
        print(f"qusayr: {command[4]}: the page's app.py is missing (run from a checkout)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"qusayr: the battle ({args.scenario}) at http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.run(command, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=_count(0), help="local worker processes (default: all cores; 0: run in this process)"
    )
    parser.add_argument("--cluster", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario name or file (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario value, e.g. --set forces.army.fighters=6000 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``qusayr`` command."""
    parser = argparse.ArgumentParser(
        prog="qusayr",
        description="Agent-based model of the second battle of al-Qusayr (19 May - 5 June 2013).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    record = commands.add_parser("record", help="print the historical record (claims, events, forces, casualties)")
    record.add_argument("--json", action="store_true", help="print the record as JSON")
    record.add_argument("--file", type=Path, default=DEFAULT_RECORD_PATH, help="record file (default: %(default)s)")
    record.set_defaults(handler=_cmd_record)

    run = commands.add_parser("run", help="run a scenario once and write its outcomes")
    _add_scenario_arguments(run)
    run.add_argument("--out", type=Path, help="output folder (default: results/<scenario>-seed<seed>)")
    run.set_defaults(handler=_cmd_run)

    bench = commands.add_parser("bench", help="time one run; print fighters, steps, seconds, peak memory as JSON")
    _add_scenario_arguments(bench)
    bench.add_argument(
        "--forces-scale", type=float, default=1.0, help="multiply every force by this (scaling checks; default 1)"
    )
    bench.set_defaults(handler=_cmd_bench)

    sweep = commands.add_parser("sweep", help="run every (point, replicate) of an experiment; resumable")
    sweep.add_argument("experiment", help="experiment name or file")
    sweep.add_argument("--out", type=Path, help="sweep folder (default: results/sweeps/<experiment>)")
    _add_engine_arguments(sweep)
    sweep.set_defaults(handler=_cmd_sweep)

    validate = commands.add_parser("validate", help="run an ensemble and hold it against the record")
    validate.add_argument(
        "scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario name or file (default: %(default)s)"
    )
    validate.add_argument("--runs", type=_count(2), default=50, help="seeds in the ensemble (default: %(default)s)")
    validate.add_argument("--out", type=Path, help="output folder (default: results/validate/<scenario>)")
    validate.add_argument(
        "--master-seed", type=_count(0), default=1, help="seeds come from this (default: %(default)s)"
    )
    validate.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a scenario value")
    _add_engine_arguments(validate)
    validate.set_defaults(handler=_cmd_validate)

    calibrate = commands.add_parser("calibrate", help="fit an experiment's free parameters to the record")
    calibrate.add_argument("experiment", help="experiment name or file (parameters with bounds, calibration:)")
    calibrate.add_argument("--out", type=Path, help="output folder (default: results/calibrate/<experiment>)")
    calibrate.add_argument(
        "--train-until", type=_count(0), metavar="DAY", help="fit only to the record up to this day; predict the rest"
    )
    _add_engine_arguments(calibrate)
    calibrate.set_defaults(handler=_cmd_calibrate)

    sens = commands.add_parser("sensitivity", help="SALib sensitivity indices over an experiment's parameters")
    sens.add_argument("experiment", help="experiment name or file (two or more bounded parameters)")
    sens.add_argument("--method", choices=("morris", "sobol"), default="morris", help="default: %(default)s")
    sens.add_argument(
        "--size", type=_count(2), help="Morris trajectories (default 10) or Sobol base samples (default 32)"
    )
    sens.add_argument("--replicates", type=_count(1), help="seeds per parameter set (default: the experiment's)")
    sens.add_argument("--out", type=Path, help="output folder (default: results/sensitivity/<experiment>-<method>)")
    sens.add_argument(
        "--workers", type=_count(0), help="local worker processes (default: all cores; 0: run in this process)"
    )
    sens.add_argument("--cluster", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead")
    sens.set_defaults(handler=_cmd_sensitivity)

    comp = commands.add_parser("compare", help="two scenarios on common seeds: paired differences with CIs")
    comp.add_argument("scenario_a", help="scenario A (e.g. the baseline)")
    comp.add_argument("scenario_b", help="scenario B (e.g. a counterfactual)")
    comp.add_argument("--runs", type=_count(2), default=30, help="common seeds (default: %(default)s)")
    comp.add_argument("--master-seed", type=_count(0), default=1, help="seeds come from this (default: %(default)s)")
    comp.add_argument("--out", type=Path, help="output folder (default: results/compare/<B>-vs-<A>)")
    comp.add_argument(
        "--ensembles",
        type=Path,
        default=Path("results") / "ensembles",
        help="where ensembles are kept and reused (default: %(default)s)",
    )
    _add_engine_arguments(comp)
    comp.set_defaults(handler=_cmd_compare)

    viz = commands.add_parser("viz", help="watch a run in a browser: Mesa's SolaraViz page on 127.0.0.1")
    viz.add_argument(
        "scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario name or file (default: %(default)s)"
    )
    viz.add_argument("--port", type=_count(0), default=8765, help="port on 127.0.0.1 (default: %(default)s)")
    viz.add_argument(
        "--bench",
        type=_count(1),
        metavar="REDRAWS",
        help="no server: time REDRAWS step + redraw cycles of the page's pictures and print them as JSON",
    )
    viz.add_argument(
        "--steps-per-redraw", type=_count(1), default=1, help="model steps per redraw with --bench (default: 1)"
    )
    viz.set_defaults(handler=_cmd_viz)

    status = commands.add_parser("status", help="what a sweep folder holds (read-only)")
    status.add_argument("folder", type=Path)
    status.set_defaults(handler=_cmd_status)

    plot = commands.add_parser("plot", help="figures from a finished sweep")
    plot.add_argument("folder", type=Path)
    plot.set_defaults(handler=_cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qusayr`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:  # the reader went away (e.g. `qusayr record | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (RecordError, ScenarioError, ExperimentError) as exc:
        print(f"qusayr: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunFailedError as exc:
        print(f"qusayr: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

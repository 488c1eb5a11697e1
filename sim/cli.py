"""The ``qusayr`` command: thin subcommands over the functions of ``sim``.

Each handler parses its arguments, calls one library function (``sim.runfiles`` for a run's files,
``sim.analysis.reports`` for the analyses and a sweep's figures, ``sim.sweeps`` for sweeps) and
prints what it returns. Bad input (a record, a scenario, an override, an experiment, a flag, an
output folder that cannot be written) ends with one message on stderr and exit status 2, before
any run. Every count a flag takes is bounded, so that a typo cannot exhaust the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import importlib.util
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sim.battle_dates import BATTLE_START, DAY0, RUN_LAST_DAY
from sim.installation import DEFAULT_SCENARIO, KINDS, code_version, names

EXIT_BAD_INPUT = 2

# What a command needs beyond the core, found before any work: (the extra, the modules it brings).
EXTRAS = {
    "calibrate": ("analysis", ("optuna",)),
    "match": ("analysis", ("sklearn", "emcee", "scoringrules", "SALib")),
    "sensitivity": ("analysis", ("SALib",)),
    "viz": ("viz", ("solara",)),
}
POSTERIOR_EXTRA = ("analysis", ("scoringrules",))  # validate --posterior scores with CRPS
CLUSTER_EXTRA = ("cluster", ("distributed",))  # any --cluster

# The bounds of the flags' numbers: each beyond what any use needs, each far below what would
# exhaust the machine (a typo's extra zeros must be refused at once, not after hours or gigabytes).
MAX_SEED = 2**63 - 1  # seeds are stored in 64-bit integer columns (runs.parquet, the ledger); numpy takes any >= 0
MAX_FORCES_SCALE = 20.0  # twice the scaling target (scale 10, 113,500 fighters); scale 20 measured 4.6 s, 284 MB
MAX_REPEAT = 100  # timed battles of bench: their median is steady long before; 100 at scale 20 is 8 minutes
MAX_RUNS = 10_000  # seeds of an ensemble (validate, compare): quantiles settle far sooner; ~2 hours on one core
MAX_SIZE = 8_192  # Morris trajectories or Sobol base samples (2**13): already 49,152 points for two parameters
MAX_REPLICATES = 1_000  # seeds per parameter set: a mean to ~3 % of its spread; beyond, points are the better use
MAX_TRAIN_UNTIL = (RUN_LAST_DAY - DAY0).days  # the last day a run can reach: no target of the record lies after it
MAX_REDRAWS = 1_000  # viz --bench cycles (a few tenths of a second each): their median and slowest are steady
# the longest run there can be (to the last day, one-minute steps): past it every step is a no-op
MAX_STEPS_PER_REDRAW = int((dt.datetime.combine(RUN_LAST_DAY, dt.time()) - BATTLE_START) / dt.timedelta(minutes=1))
MAX_PORT = 65_535


def _cmd_record(args: argparse.Namespace) -> int:
    from sim.record import load_record, record_lines

    record = load_record(*([args.file] if args.file else []))
    if args.json:
        print(json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print("\n".join(record_lines(record)))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from sim.runfiles import run_into, run_lines

    written = run_into(args.scenario, args.set, args.seed, args.out)
    print("\n".join(run_lines(written.result.summary, written.out, record=written.record, scenario=written.scenario)))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from sim.bench import PEER_SCRIPT, bench, phase_profile
    from sim.loading import LoadError

    if args.phases:
        print(json.dumps(phase_profile(args.scenario, args.set, args.seed)))
        return 0
    peer_script = (args.peer_script or PEER_SCRIPT) if args.peer else None
    if args.peer and peer_script is None:
        raise LoadError("--peer: an installed qusayr has no peer script beside it: give --peer-script FILE")
    print(json.dumps(bench(args.scenario, args.set, args.seed, args.forces_scale, args.repeat, peer_script)))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sim.sweeps.runner import sweep

    name = Path(args.experiment).stem
    out = args.out or Path("results") / "sweeps" / name
    status = sweep(
        args.experiment,
        out,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        retry_failed=args.retry_failed,
    )
    if status:
        print(f"qusayr: some runs failed; see 'qusayr status {out}'", file=sys.stderr)
    print(f"written to {out}/ (runs.parquet and by_day.parquet: docs/outputs.md; 'qusayr plot {out}' draws them)")
    return status


def _cmd_status(args: argparse.Namespace) -> int:
    from sim.analysis.reports.sweep import status_lines
    from sim.sweeps.ledger import LEDGER_NAME

    if not (args.folder / LEDGER_NAME).is_file():
        print(f"qusayr: {args.folder}: no sweep here (no {LEDGER_NAME})", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(status_lines(args.folder)))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from sim.analysis.reports.sweep import write_sweep_figures
    from sim.output import check_out_folder
    from sim.outputs import RUNS_TABLE
    from sim.sweeps.ledger import LEDGER_NAME

    if not (args.folder / RUNS_TABLE).is_file() or not (args.folder / LEDGER_NAME).is_file():
        print(f"qusayr: {args.folder}: no finished sweep here (no {RUNS_TABLE})", file=sys.stderr)
        return EXIT_BAD_INPUT
    check_out_folder(args.folder / "plots", "folder")
    written = write_sweep_figures(args.folder)
    print(f"{len(written)} figures written to {args.folder / 'plots'}/")
    return 0


def _count(minimum: int, maximum: int | None = None):
    """An argparse type: a whole number from ``minimum`` to ``maximum`` (when given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _forces_scale(text: str) -> float:
    """An argparse type: a factor of the forces, finite, more than 0 and at most ``MAX_FORCES_SCALE``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= MAX_FORCES_SCALE):
        raise argparse.ArgumentTypeError(f"must be a number more than 0 and at most {MAX_FORCES_SCALE:g}, got {text}")
    return value


def _command_line() -> str:
    return "qusayr " + " ".join(sys.argv[1:])


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.analysis.reports.validation import validation_lines, write_validation
    from sim.output import check_out_folder
    from sim.record import load_record

    out = check_out_folder(args.out or Path("results") / "validate" / Path(args.scenario).stem)
    result = write_validation(
        args.scenario,
        args.set,
        args.runs,
        out,
        record=load_record(),
        master_seed=args.seed,
        posterior=args.posterior,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    print("\n".join(validation_lines(result, out)))
    missed = [check.name for check in result.checks if not check.passed]
    if args.strict and missed:
        print(f"qusayr: validate --strict: {len(missed)} of {len(result.checks)} checks missed", file=sys.stderr)
        return 1
    return 0


def _cmd_patterns(args: argparse.Namespace) -> int:
    from sim.analysis.reports.patterns import patterns_lines, write_patterns
    from sim.output import check_out_folder
    from sim.record import load_record

    out = check_out_folder(args.out or Path("results") / "patterns" / Path(args.test).stem)
    result = write_patterns(
        args.test,
        out,
        record=load_record(),
        runs=args.runs,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    print("\n".join(patterns_lines(result, out)))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.analysis.reports.calibration import calibration_lines, write_calibration
    from sim.output import check_out_folder
    from sim.record import load_record

    name = Path(args.experiment).stem + (f"-until-d{args.train_until:02d}" if args.train_until is not None else "")
    out = check_out_folder(args.out or Path("results") / "calibrate" / name)
    result = write_calibration(
        args.experiment,
        out,
        record=load_record(),
        train_until=args.train_until,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    print("\n".join(calibration_lines(result, out)))
    return 0


def _cmd_match(args: argparse.Namespace) -> int:
    from sim.analysis.reports.match import match_lines, write_match
    from sim.output import check_out_folder

    name = Path(args.experiment).stem + (f"-until-d{args.train_until:02d}" if args.train_until is not None else "")
    out = check_out_folder(args.out or Path("results") / "match" / name)
    match = write_match(
        args.experiment,
        out,
        train_until=args.train_until,
        first_wave=args.first_wave,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    print("\n".join(match_lines(match, out)))
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.analysis.reports.sensitivity import sensitivity_lines, write_sensitivity
    from sim.output import check_out_folder

    out = check_out_folder(args.out or Path("results") / "sensitivity" / f"{Path(args.experiment).stem}-{args.method}")
    result = write_sensitivity(
        args.experiment,
        out,
        method=args.method,
        size=args.size,
        replicates=args.replicates,
        workers=args.workers,
        cluster=args.cluster,
    )
    print("\n".join(sensitivity_lines(result, out)))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from sim.analysis.reports.counterfactual import comparison_lines, write_comparison
    from sim.output import check_out_folder

    stems = f"{Path(args.scenario_b).stem}-vs-{Path(args.scenario_a).stem}"
    out = check_out_folder(args.out or Path("results") / "compare" / stems)
    check_out_folder(args.ensembles, "--ensembles")
    result = write_comparison(
        args.scenario_a,
        args.scenario_b,
        args.runs,
        out,
        ensembles=args.ensembles,
        master_seed=args.seed,
        workers=args.workers,
        cluster=args.cluster,
        quiet=args.quiet,
        command=_command_line(),
    )
    labels = [Path(args.scenario_a).stem, Path(args.scenario_b).stem]
    print("\n".join(comparison_lines(result, labels, out)))
    return 0


def _cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), args.shell))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for kind in KINDS:
        print(f"{kind}: {', '.join(names(kind)) or 'none'}")
    return 0


def _cmd_agree(args: argparse.Namespace) -> int:
    from sim.analysis.agreement import FLAG_P, agreement, agreement_markdown, identical_runs
    from sim.outputs import read_runs

    before, after = read_runs(args.before), read_runs(args.after)
    table = agreement(before, after)
    print(agreement_markdown(table, (args.before.name, args.after.name), identical_runs(before, after)), end="")
    return 1 if (table["ks_p"] < FLAG_P).any() else 0


def _cmd_viz(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario
    from sim.viz import bench_page, serve

    load_scenario(args.scenario)  # bad input stops here, before a server starts

    if args.bench:
        print(json.dumps(bench_page(args.scenario, redraws=args.bench, steps_per_redraw=args.steps_per_redraw)))
        return 0
    return serve(args.scenario, args.port)


def _add_engine_arguments(parser: argparse.ArgumentParser, *, progress: bool = True) -> None:
    """``--workers`` and ``--cluster`` (and ``--quiet`` where the command shows progress)."""
    parser.add_argument(
        "--workers",
        type=_count(0),
        help="local worker processes, at most the cores (default: all cores; 0: run in this process)",
    )
    parser.add_argument("--cluster", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead")
    if progress:
        parser.add_argument("--quiet", action="store_true", help="no progress output")


def _add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario name or file (default: %(default)s)"
    )
    parser.add_argument("--seed", type=_count(0, MAX_SEED), default=1, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario value, e.g. --set forces.army.fighters=6000 (repeatable)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse's parser, telling a bad flag in one line ``qusayr: <command>: <flag>: <message>`` (exit 2).

    argparse prints the usage and ``prog: error: argument --flag: message``; the usage buries the
    one line that matters, and the project tells every bad input the same way.
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("qusayr").strip()
        flag = re.fullmatch(r"argument (\S+): (.*)", message, flags=re.DOTALL)
        if flag:
            message = f"{flag[1]}: {flag[2]}"
        self.exit(EXIT_BAD_INPUT, f"qusayr: {command + ': ' if command else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``qusayr`` command."""
    parser = _Parser(
        prog="qusayr",
        description="Agent-based model of the second battle of al-Qusayr (19 May - 5 June 2013).",
    )
    parser.add_argument("--version", action="version", version=f"qusayr {code_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    record = commands.add_parser("record", help="print the historical record (claims, events, forces, casualties)")
    record.add_argument("--json", action="store_true", help="print the record as JSON")
    record.add_argument("--file", type=Path, help="record file (default: the shipped record of the battle)")
    record.set_defaults(handler=_cmd_record)

    listing = commands.add_parser(
        "list", help="the scenarios, experiments and pattern tests found by name (shipped and your own)"
    )
    listing.set_defaults(handler=_cmd_list)

    completion = commands.add_parser(
        "completion",
        help="print a shell's completion script (bash: qusayr completion bash > ~/.qusayr-completion; source it)",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    completion.set_defaults(handler=_cmd_completion)

    run = commands.add_parser("run", help="run a scenario once and write its outcomes")
    _add_scenario_arguments(run)
    run.add_argument("--out", type=Path, help="output folder (default: results/<scenario>-seed<seed>)")
    run.set_defaults(handler=_cmd_run)

    bench = commands.add_parser(
        "bench", help="time a battle (a first run, then --repeat runs); print fighters, steps, seconds, memory as JSON"
    )
    _add_scenario_arguments(bench)
    bench.add_argument(
        "--forces-scale",
        type=_forces_scale,
        default=1.0,
        help=f"multiply every force by this, at most {MAX_FORCES_SCALE:g} (scaling checks; default 1)",
    )
    bench.add_argument(
        "--repeat", type=_count(1, MAX_REPEAT), default=3, help="timed runs after the first (default: 3)"
    )
    bench.add_argument(
        "--peer", action="store_true", help="also run the per-agent Mesa peer on the same fighters; print the ratio"
    )
    bench.add_argument(
        "--peer-script", type=Path, help="the peer (default: ../shared/bench/naive_mesa.py beside the repository)"
    )
    bench.add_argument("--phases", action="store_true", help="instead: microseconds per step of each phase")
    bench.set_defaults(handler=_cmd_bench)

    sweep = commands.add_parser("sweep", help="run every (point, replicate) of an experiment; resumable")
    sweep.add_argument("experiment", help="experiment name or file")
    sweep.add_argument("--out", type=Path, help="sweep folder (default: results/sweeps/<experiment>)")
    sweep.add_argument("--retry-failed", action="store_true", help="run the runs that failed in this folder again")
    _add_engine_arguments(sweep)
    sweep.set_defaults(handler=_cmd_sweep)

    validate = commands.add_parser("validate", help="run an ensemble and hold it against the record")
    validate.add_argument(
        "scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario name or file (default: %(default)s)"
    )
    validate.add_argument(
        "--runs", type=_count(2, MAX_RUNS), default=50, help="seeds in the ensemble (default: %(default)s)"
    )
    validate.add_argument("--out", type=Path, help="output folder (default: results/validate/<scenario>)")
    validate.add_argument(
        "--seed", type=_count(0, MAX_SEED), default=1, help="the runs' seeds come from this (default: %(default)s)"
    )
    validate.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a scenario value")
    validate.add_argument(
        "--posterior",
        type=Path,
        metavar="FILE",
        help="each run draws its inputs from this posterior sample (posterior.parquet of qusayr match)",
    )
    validate.add_argument("--strict", action="store_true", help="exit 1 when any check of the record is missed")
    _add_engine_arguments(validate)
    validate.set_defaults(handler=_cmd_validate)

    patterns = commands.add_parser(
        "patterns", help="competing sub-models, each an ensemble, scored on every pattern of the record at once"
    )
    patterns.add_argument(
        "test", nargs="?", default="sub-models", help="a pattern test: experiments/patterns/<name>.yaml or a path"
    )
    patterns.add_argument("--runs", type=_count(2, MAX_RUNS), help="seeds per alternative (default: the test's)")
    patterns.add_argument("--out", type=Path, help="output folder (default: results/patterns/<test>)")
    _add_engine_arguments(patterns)
    patterns.set_defaults(handler=_cmd_patterns)

    calibrate = commands.add_parser("calibrate", help="fit an experiment's free parameters to the record")
    calibrate.add_argument("experiment", help="experiment name or file (parameters with bounds, calibration:)")
    calibrate.add_argument("--out", type=Path, help="output folder (default: results/calibrate/<experiment>)")
    calibrate.add_argument(
        "--train-until",
        type=_count(0, MAX_TRAIN_UNTIL),
        metavar="DAY",
        help="fit only to the record up to this day; predict the rest",
    )
    _add_engine_arguments(calibrate)
    calibrate.set_defaults(handler=_cmd_calibrate)

    match = commands.add_parser(
        "match", help="history matching in waves and a posterior sample: every uncertain input against the record"
    )
    match.add_argument("experiment", help="experiment name or file (parameters with bounds, history_matching:)")
    match.add_argument("--out", type=Path, help="output folder (default: results/match/<experiment>)")
    match.add_argument(
        "--train-until",
        type=_count(0, MAX_TRAIN_UNTIL),
        metavar="DAY",
        help="match only the record up to this day (a forecast's fit)",
    )
    match.add_argument(
        "--first-wave", type=Path, metavar="FOLDER", help="wave 1's sweep folder, shared with another match"
    )
    _add_engine_arguments(match)
    match.set_defaults(handler=_cmd_match)

    sens = commands.add_parser("sensitivity", help="SALib sensitivity indices over an experiment's parameters")
    sens.add_argument("experiment", help="experiment name or file (two or more bounded parameters)")
    sens.add_argument("--method", choices=("morris", "sobol"), default="morris", help="default: %(default)s")
    sens.add_argument(
        "--size", type=_count(2, MAX_SIZE), help="Morris trajectories (default 10) or Sobol base samples (default 32)"
    )
    sens.add_argument(
        "--replicates", type=_count(1, MAX_REPLICATES), help="seeds per parameter set (default: the experiment's)"
    )
    sens.add_argument("--out", type=Path, help="output folder (default: results/sensitivity/<experiment>-<method>)")
    _add_engine_arguments(sens, progress=False)
    sens.set_defaults(handler=_cmd_sensitivity)

    comp = commands.add_parser("compare", help="two scenarios on common seeds: paired differences with CIs")
    comp.add_argument("scenario_a", help="scenario A (e.g. the baseline)")
    comp.add_argument("scenario_b", help="scenario B (e.g. a counterfactual)")
    comp.add_argument("--runs", type=_count(2, MAX_RUNS), default=30, help="common seeds (default: %(default)s)")
    comp.add_argument(
        "--seed", type=_count(0, MAX_SEED), default=1, help="the common seeds come from this (default: %(default)s)"
    )
    comp.add_argument("--out", type=Path, help="output folder (default: results/compare/<B>-vs-<A>)")
    comp.add_argument(
        "--ensembles",
        type=Path,
        default=Path("results") / "ensembles",
        help="where ensembles are kept and reused (default: %(default)s)",
    )
    _add_engine_arguments(comp)
    comp.set_defaults(handler=_cmd_compare)

    agree = commands.add_parser(
        "agree", help="do two ensembles of a scenario agree? medians, KS p-values by outcome; exit 1 if any p < 0.01"
    )
    agree.add_argument("before", type=Path, help="an ensemble or sweep folder (its runs.parquet)")
    agree.add_argument("after", type=Path, help="another, of the same scenario")
    agree.set_defaults(handler=_cmd_agree)

    viz = commands.add_parser("viz", help="watch a run in a browser: Mesa's SolaraViz page on 127.0.0.1")
    viz.add_argument(
        "scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario name or file (default: %(default)s)"
    )
    viz.add_argument("--port", type=_count(1, MAX_PORT), default=8765, help="port on 127.0.0.1 (default: %(default)s)")
    viz.add_argument(
        "--bench",
        type=_count(1, MAX_REDRAWS),
        metavar="REDRAWS",
        help="no server: time REDRAWS step + redraw cycles of the page's pictures and print them as JSON",
    )
    viz.add_argument(
        "--steps-per-redraw",
        type=_count(1, MAX_STEPS_PER_REDRAW),
        default=1,
        help="model steps per redraw with --bench (default: 1)",
    )
    viz.set_defaults(handler=_cmd_viz)

    status = commands.add_parser("status", help="what a sweep folder holds (read-only)")
    status.add_argument("folder", type=Path)
    status.set_defaults(handler=_cmd_status)

    plot = commands.add_parser("plot", help="figures from a finished sweep")
    plot.add_argument("folder", type=Path)
    plot.set_defaults(handler=_cmd_plot)
    return parser


def missing_extra(args: argparse.Namespace) -> str | None:
    """The message for an extra the command needs and lacks (None when all is there): before any work."""
    needs = [EXTRAS[args.command]] if args.command in EXTRAS else []
    if getattr(args, "posterior", None):
        needs.append(POSTERIOR_EXTRA)
    if getattr(args, "cluster", None):
        needs.append(CLUSTER_EXTRA)
    for extra, modules in needs:
        absent = [m for m in modules if importlib.util.find_spec(m) is None]
        if absent:
            return (
                f"qusayr: {args.command}: needs the '{extra}' extra ({', '.join(absent)} missing): "
                f"pip install 'qusayr[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qusayr`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    missing = missing_extra(args)
    if missing:
        print(missing, file=sys.stderr)
        return EXIT_BAD_INPUT
    from sim.loading import LoadError
    from sim.output import OutputPathError
    from sim.sweeps.failures import RunFailedError

    try:
        return args.handler(args)
    except BrokenPipeError:  # the reader went away (e.g. `qusayr record | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OutputPathError as exc:  # named by a flag or a field, not a file: the command says where
        print(f"qusayr: {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except LoadError as exc:  # a scenario, record or experiment that cannot be used
        print(f"qusayr: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunFailedError as exc:
        print(f"qusayr: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # outputs are written whole or not at all (sim.output), a sweep's finished runs are in its ledger
        print(
            f"qusayr: {args.command}: no space left writing {exc.filename or 'the output'}: free some and run it again",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

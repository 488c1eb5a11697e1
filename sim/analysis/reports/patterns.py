"""``qusayr patterns``'s files: ``patterns.md`` (which pattern rejects which alternative) and ``patterns.json``.

Methods: docs/methods.md, sections 5 (validation) and 10 (rendering).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.analysis.patterns import AlternativeResult, PatternTestResult, discriminating, run_pattern_test
from sim.analysis.validate import PATTERNS
from sim.installation import code_version
from sim.output import git_commit, write_text

FILES = "patterns.md, patterns.json"


def _cell(result: AlternativeResult, pattern: str) -> str:
    """A table cell: whether the pattern holds for the alternative, and what each of its checks measured.

    A check's text is cut before its first "; the " (the day-10 check's account of the runs apart).
    """
    parts = [
        f"{'' if c.passed else '**missed** '}{c.name}: {c.measured.split('; the ', 1)[0]}"
        for c in result.checks_of(pattern)
    ]
    verdict = "holds" if result.passes(pattern) else "**rejects**"
    return f"{verdict}. {'; '.join(parts)}".replace("|", "/")


def patterns_markdown(result: PatternTestResult, *, command: str) -> str:
    """``patterns.md``: per pair, each pattern against both alternatives, and which pattern rejects which."""
    test = result.test
    first = result.alternatives[0].validation
    git = git_commit()
    commit = f"{git['commit'] or 'unknown'}{' (dirty)' if git['dirty'] else ''}"
    lines = [
        f"# Competing sub-models of `{test.scenario}` tested on {len(PATTERNS)} patterns at once",
        "",
        f"{test.description.strip()}",
        "",
        f"{first.fit.runs} runs per alternative on common seeds (master seed {test.master_seed}), code "
        f"{code_version()}, commit {commit}. Regenerate with `{command}`. Each pattern is a group of "
        "`qusayr validate`'s checks (requirements and their sources: docs/history/validation.md); a pattern "
        "rejects an alternative when one of its checks misses (Grimm et al. 2005).",
        "",
        "## Which pattern rejects which alternative",
        "",
        "| question | alternative | loss | rejected by | told apart by |",
        "|---|---|---|---|---|",
    ]
    for question, a, b in result.pairs():
        apart = discriminating(a, b)
        for alt in (a, b):
            rejecting = [p for p, name in apart.items() if name == alt.alternative.name]
            lines.append(
                f"| {question} | {alt.alternative.name} | {alt.validation.fit.loss:.3f} | "
                f"{', '.join(alt.rejected_by()) or 'none'} | {', '.join(rejecting) or '-'} |"
            )
    lines += [
        "",
        "'loss': the weighted mean distance to every target of the record (`sim/analysis/fit.py`; lower is "
        "closer). 'told apart by': the patterns that reject this alternative and not the other of its pair.",
    ]
    for question, a, b in result.pairs():
        lines += [
            "",
            f"## {question}",
            "",
            f"- **{a.alternative.name}** (`{' '.join(a.alternative.set) or 'the scenario as it is'}`): "
            f"{a.alternative.says}",
            f"- **{b.alternative.name}** (`{' '.join(b.alternative.set) or 'the scenario as it is'}`): "
            f"{b.alternative.says}",
            "",
            f"| pattern | {a.alternative.name} | {b.alternative.name} |",
            "|---|---|---|",
        ]
        lines += [f"| {p} | {_cell(a, p)} | {_cell(b, p)} |" for p in PATTERNS]
    return "\n".join(lines) + "\n"


def patterns_json(result: PatternTestResult) -> dict[str, Any]:
    """``patterns.json``: per alternative, its overrides, loss and every pattern's checks."""
    return {
        "name": result.test.name,
        "scenario": result.test.scenario,
        "master_seed": result.test.master_seed,
        "patterns": list(PATTERNS),
        "alternatives": [
            {
                "question": alt.question,
                "name": alt.alternative.name,
                "set": alt.alternative.set,
                "runs": alt.validation.fit.runs,
                "loss": alt.validation.fit.loss,
                "rejected_by": alt.rejected_by(),
                "checks": [
                    {
                        "pattern": c.pattern,
                        "name": c.name,
                        "required": c.required,
                        "measured": c.measured,
                        "passed": c.passed,
                    }
                    for c in alt.validation.checks
                ],
            }
            for alt in result.alternatives
        ],
    }


def write_patterns(name_or_path: str | Path, out: Path, *, command: str = "", **options: Any) -> PatternTestResult:
    """Run a pattern test (``sim.analysis.patterns``) and write ``patterns.md`` and ``patterns.json`` into ``out``.

    ``options``: ``run_pattern_test``'s own (``record``, ``runs``, ``workers``, ``cluster``, ``quiet``).
    """
    result = run_pattern_test(name_or_path, out, **options)
    write_text(out / "patterns.md", patterns_markdown(result, command=command))
    write_text(out / "patterns.json", json.dumps(patterns_json(result), indent=1) + "\n")
    return result


def patterns_lines(result: PatternTestResult, out: Path) -> list[str]:
    """What ``qusayr patterns`` prints: each alternative and the patterns that reject it, where the files are."""
    lines = [
        f"{alt.question}: {alt.alternative.name}: rejected by {', '.join(alt.rejected_by()) or 'none'}"
        for alt in result.alternatives
    ]
    return [*lines, f"written to {out}/ ({FILES})"]

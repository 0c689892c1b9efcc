"""What `harness gate` writes: a console table, Markdown (for $GITHUB_STEP_SUMMARY), JUnit XML, JSON."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.core import results
from harness.gate.verdict import RuleResult

GATE_FILE = "gate.json"  # `harness gate RUN` records its verdict here, beside run.json; `harness report RUN` shows it


def console(results_: list[RuleResult]) -> str:
    lines = []
    for r in results_:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  rule {r.index}: {r.name}")
        for c in r.checks:
            lines.append(f"        {'ok ' if c.passed else 'BAD'} {c.arm} {c.task}/{c.metric}: {c.detail}")
        if not r.checks:
            lines.append("        (nothing matched)")
    failed = sum(not r.passed for r in results_)
    lines.append(f"verdict: {'FAIL' if failed else 'PASS'} ({len(results_) - failed} of {len(results_)} rules passed)")
    return "\n".join(lines)


def markdown(results_: list[RuleResult], run: dict) -> str:
    failed = sum(not r.passed for r in results_)
    out = [f"### Adapter gate: {'❌ FAIL' if failed else '✅ PASS'}", "",
           f"Run `{run['run_id']}`, base {run['base']['name']}: {len(results_) - failed} of {len(results_)} rules passed.", "",
           "| rule | arm | task / metric | result | detail |", "|---|---|---|---|---|"]
    for r in results_:
        for c in r.checks or [None]:
            if c is None:
                out.append(f"| {r.index}. {r.name} | | | ❌ | nothing matched |")
            else:
                out.append(f"| {r.index}. {r.name} | {c.arm} | {c.task} / {c.metric} | {'✅' if c.passed else '❌'} | "
                           f"{c.detail.replace('|', '/')} |")
    return "\n".join(out) + "\n"


def junit(results_: list[RuleResult], run: dict) -> str:
    failures = sum(not r.passed for r in results_)
    suites = ET.Element("testsuites", name="harness gate", tests=str(len(results_)), failures=str(failures),
                        errors="0", time="0")
    suite = ET.SubElement(suites, "testsuite", name=f"harness gate {run['run_id']}", tests=str(len(results_)),
                          failures=str(failures), errors="0", skipped="0", time="0")
    props = ET.SubElement(suite, "properties")
    for k, v in (("run_id", run["run_id"]), ("base", run["base"]["name"]), ("base_fingerprint", run["base"]["fingerprint"])):
        ET.SubElement(props, "property", name=k, value=str(v))
    for r in results_:
        case = ET.SubElement(suite, "testcase", classname=f"gate.{r.rule['kind']}", name=f"{r.index}. {r.name}", time="0")
        detail = "\n".join(f"{c.arm} {c.task}/{c.metric}: {'ok' if c.passed else 'FAILED'}: {c.detail}" for c in r.checks)
        if not r.passed:
            bad = [c for c in r.checks if not c.passed]
            msg = bad[0].detail if bad else "nothing matched"
            ET.SubElement(case, "failure", message=msg, type="GateFailure").text = detail or msg
        ET.SubElement(case, "system-out").text = detail
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def as_json(results_: list[RuleResult], run: dict) -> dict:
    """The verdict, with the statistics contract its intervals were computed under (a report made under a later one
    recomputes the comparisons and says the two may differ)."""
    return {"run_id": run["run_id"], "passed": all(r.passed for r in results_),
            "statistics_version": (run.get("statistics") or {}).get("version"), "rules": [
        {"index": r.index, "name": r.name, "rule": r.rule, "passed": r.passed,
         "checks": [c.__dict__ for c in r.checks]} for r in results_]}


def write_all(results_, run, junit_path=None, json_path=None) -> None:
    import os

    if junit_path:
        results.atomic_write_text(junit_path, junit(results_, run))
    if json_path:
        results.write_json(json_path, as_json(results_, run))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(markdown(results_, run))
    return None


def record(results_, run, path) -> str | None:
    """The verdict as JSON at `path` (RUN/gate.json with --record), atomically; the line to print when it cannot be
    written (a read-only run directory: the gate's exit code does not change), else None."""
    try:
        results.write_json(path, as_json(results_, run))
    except OSError as e:
        return (f"the verdict is not recorded in {path} ({e.strerror or type(e).__name__}); the report of this run "
                "will show no gate (pass --json PATH to write it elsewhere, or leave out --record)")
    return None

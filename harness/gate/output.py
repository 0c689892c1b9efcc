"""What `harness gate` writes: a console table, Markdown (for $GITHUB_STEP_SUMMARY), JUnit XML, JSON, and GitHub
Actions error annotations. Each says the verdict per rule and per adapter (harness.gate.verdict.by_adapter)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.core import results
from harness.gate.verdict import AdapterVerdict, Check, RuleResult, by_adapter, label, not_judged

GATE_FILE = "gate.json"  # `harness gate RUN` records its verdict here, beside run.json; `harness report RUN` shows it


def _by_rule(a: AdapterVerdict) -> list[tuple[RuleResult, list[Check | None]]]:
    """An adapter's failures gathered per rule, in rule order."""
    out: dict[int, tuple[RuleResult, list]] = {}
    for r, c in a.failures:
        out.setdefault(r.index, (r, []))[1].append(c)
    return list(out.values())


def _detail(c: Check | None) -> str:
    return c.detail if c is not None else "nothing matched"


def _tally(results_: list[RuleResult], adapters: list[AdapterVerdict]) -> str:
    rules = f"{sum(r.passed for r in results_)} of {len(results_)} rules passed"
    if not adapters:
        return rules
    return f"{sum(a.passed for a in adapters)} of {len(adapters)} adapters passed; {rules}"


def _unjudged(names: list[str]) -> str:
    return f"{', '.join(names)} (no rule selects {'it' if len(names) == 1 else 'them'})"


def console(results_: list[RuleResult], run: dict | None = None) -> str:
    lines = []
    for r in results_:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  rule {r.index}: {r.name}")
        for c in r.checks:
            lines.append(f"        {'ok ' if c.passed else 'BAD'} {c.arm} {c.task}/{c.metric}: {c.detail}")
        if not r.checks:
            lines.append("        (nothing matched)")
    adapters = by_adapter(results_, run)
    for a in adapters:
        if a.passed:
            lines.append(f"PASS {a.name}: {a.rules_passed} of {len(a.judged)} rules")
        for r, failed in _by_rule(a):
            more = f" (and {len(failed) - 1} more failed checks, above)" if len(failed) > 1 else ""
            lines.append(f"FAIL {a.name}: {label(r, failed[0])}: {_detail(failed[0])}{more}")
    unjudged = not_judged(results_, run)
    if unjudged:
        lines.append(f"not judged: {_unjudged(unjudged)}")
    passed = all(r.passed for r in results_)
    lines.append(f"verdict: {'PASS' if passed else 'FAIL'} ({_tally(results_, adapters)})")
    return "\n".join(lines)


def markdown(results_: list[RuleResult], run: dict) -> str:
    adapters = by_adapter(results_, run)
    passed = all(r.passed for r in results_)
    out = [f"### Adapter gate: {'✅ PASS' if passed else '❌ FAIL'}", "",
           f"Run `{run['run_id']}`, base {run['base']['name']}: {_tally(results_, adapters)}.", ""]
    for a in adapters:
        failed = f"; failed: {', '.join(label(r, c[0]) for r, c in _by_rule(a))}" if a.failures else ""
        out.append(f"- {'✅' if a.passed else '❌'} **{a.name}**: {'PASS' if a.passed else 'FAIL'}, "
                   f"{a.rules_passed} of {len(a.judged)} rules{failed}")
    unjudged = not_judged(results_, run)
    if unjudged:
        out.append(f"- not judged: {_unjudged(unjudged)}")
    out += ["", "| rule | arm | task / metric | result | detail |", "|---|---|---|---|---|"]
    for r in results_:
        for c in r.checks or [None]:
            if c is None:
                out.append(f"| {r.index}. {r.name} | | | ❌ | nothing matched |")
            else:
                out.append(f"| {r.index}. {r.name} | {c.arm} | {c.task} / {c.metric} | {'✅' if c.passed else '❌'} | "
                           f"{c.detail.replace('|', '/')} |")
    return "\n".join(out) + "\n"


def _case_names(results_: list[RuleResult]) -> dict[int, str]:
    """Each rule's name in its test cases, without the arm its name may end with (the case adds `[adapter]`); two
    rules of one name are told apart by their index."""
    def plain(r: RuleResult) -> str:
        arm = r.rule.get("arm")
        return r.name if r.rule.get("name") or not arm else r.name.removesuffix(f" [{arm}]")

    names = [plain(r) for r in results_]
    return {r.index: plain(r) if names.count(plain(r)) == 1 else f"{r.index}. {plain(r)}" for r in results_}


def junit(results_: list[RuleResult], run: dict) -> str:
    """One testsuite, one testcase per (rule, adapter it judged), named `rule[adapter]`, in the shape of the common
    JUnit schema (Windy Road's JUnit.xsd, which CI parsers follow): a timestamp without a timezone (UTC), the host,
    properties, and system-out / system-err after the cases (the console's text), nothing inside a passing case."""
    import datetime
    import socket

    adapters = by_adapter(results_, run)
    cases = [(r, a, r.checks_for(a.name)) for r in results_ for a in adapters if any(x is r for x in a.judged)]
    failures = sum(any(c is None or not c.passed for c in mine or [None]) for _, _, mine in cases)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=f"harness gate {run['run_id']}", timestamp=when,
                          hostname=socket.gethostname() or "localhost", tests=str(len(cases)),
                          failures=str(failures), errors="0", skipped="0", time="0", package="harness.gate", id="0")
    props = ET.SubElement(suite, "properties")
    for k, v in (("run_id", run["run_id"]), ("base", run["base"]["name"]), ("base_fingerprint", run["base"]["fingerprint"])):
        ET.SubElement(props, "property", name=k, value=str(v))
    names = _case_names(results_)
    for r, a, mine in cases:
        case = ET.SubElement(suite, "testcase", name=f"{names[r.index]}[{a.name}]", classname=f"gate.{r.rule['kind']}",
                             time="0")
        bad = [c for c in mine if not c.passed] if mine else [None]
        if bad:
            text = "\n".join(f"{c.arm} {c.task}/{c.metric}: {'ok' if c.passed else 'FAILED'}: {c.detail}" for c in mine)
            ET.SubElement(case, "failure", message=_detail(bad[0]), type="GateFailure").text = text or "nothing matched"
    ET.SubElement(suite, "system-out").text = console(results_, run)
    ET.SubElement(suite, "system-err").text = ""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _escape(text: str, prop: bool = False) -> str:
    """GitHub's workflow-command escaping: data escapes %, CR and LF; a property value also ':' and ','."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def annotations(results_: list[RuleResult], run: dict | None = None) -> list[str]:
    """One `::error` workflow command per failed (rule, adapter), which GitHub Actions shows on the run's page."""
    out = []
    for a in by_adapter(results_, run):
        for r, failed in _by_rule(a):
            message = "\n".join(_detail(c) if len(failed) == 1 else f"{c.task}/{c.metric}: {c.detail}"
                                for c in failed if c is not None) or "nothing matched"
            out.append(f"::error title={_escape(f'{a.name}: {r.name}', prop=True)}::{_escape(message)}")
    return out


def as_json(results_: list[RuleResult], run: dict) -> dict:
    """The verdict, with the statistics contract its intervals were computed under (a report made under a later one
    recomputes the comparisons and says the two may differ), per rule and per adapter."""
    return {"run_id": run["run_id"], "passed": all(r.passed for r in results_),
            "statistics_version": (run.get("statistics") or {}).get("version"), "rules": [
        {"index": r.index, "name": r.name, "rule": r.rule, "passed": r.passed,
         "checks": [c.__dict__ for c in r.checks]} for r in results_],
            "adapters": [
        {"name": a.name, "passed": a.passed, "rules_passed": a.rules_passed, "rules_judged": len(a.judged),
         "failures": [{"rule": r.index, "rule_name": r.name, "task": c and c.task, "metric": c and c.metric,
                       "arm": c and c.arm, "detail": _detail(c)} for r, c in a.failures]}
        for a in by_adapter(results_, run)],
            "adapters_not_judged": not_judged(results_, run)}


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

"""`harness gate`: the CI verdict from a run directory (+ a baseline run); no torch."""

from __future__ import annotations

from harness.core.paths import user_path
from harness.gate.rules import KINDS


def add_gate_parser(sub) -> None:
    g = sub.add_parser("gate", help="pass/fail verdict for CI from a run (+ a baseline run)",
                       description=f"Judge a run against YAML rules ({', '.join(KINDS)}), each adapter on its own. "
                                   "Exit 0 every adapter judged passed, 1 one failed, 2 usage or config error.")
    g.add_argument("run", type=user_path, metavar="RUN_DIR")
    g.add_argument("--rules", required=True, type=user_path, help="gates.yaml")
    g.add_argument("--baseline", help="a baseline RUN_DIR, or registry:accepted")
    g.add_argument("--registry", type=user_path, help="registry file for registry:accepted")
    g.add_argument("--adapter", action="append", metavar="NAME",
                   help="judge only this adapter arm (repeatable; default: every adapter arm)")
    g.add_argument("--junit", type=user_path, help="write JUnit XML here (one testcase per rule and adapter)")
    g.add_argument("--json", type=user_path,
                   help="write the verdict as JSON here")
    g.add_argument("--record", action="store_true",
                   help="also record the verdict as RUN_DIR/gate.json, where `harness report` shows it, besides "
                        "any --json FILE (otherwise only a --junit/--json path you put there is written in the run "
                        "directory)")
    g.set_defaults(func=_cmd_gate)


def _cmd_gate(a) -> int:
    import os
    import sys

    from harness.core import results
    from harness.core.errors import HarnessError
    from harness.core.paths import refuse_inside_inputs, refuse_onto, require_file, same_or_inside, user_path
    from harness.gate import output as gate_output
    from harness.gate.judge import judge

    run = results.load_run(a.run)  # first: a missing run is the error to report, before any about the outputs
    reads = [a.rules, a.run / results.RUN_FILE, a.run / results.SAMPLES_DIR]
    if a.baseline and not a.baseline.startswith("registry:"):
        reads += [user_path(a.baseline) / results.RUN_FILE, user_path(a.baseline) / results.SAMPLES_DIR]
    for flag, path in (("--junit", a.junit), ("--json", a.json)):
        if path is not None:
            require_file(path, flag)  # before judging: a broken pipeline must not look like a failed gate
            refuse_onto(path, flag, reads)
            refuse_inside_inputs(path, flag, run)
    if a.junit is not None:  # XML where a reader expects the verdict's JSON would lose the verdict
        for other, what in ((a.json, "the --json file"), (a.run / gate_output.GATE_FILE, "the run's recorded verdict")):
            if other is not None and same_or_inside(a.junit, other):
                raise HarnessError(f"--junit {a.junit}: is {what}; give the JUnit XML a path of its own (gate.xml)")
    record = a.run / gate_output.GATE_FILE if a.record else None
    if record is not None and a.json is not None and a.json.resolve() == record.resolve():
        record = None  # --json writes it already
    if record is not None:
        try:  # the record (--record) is a convenience: a place it may not go is said in one line, never an error
            refuse_onto(record, "gate.json", reads)
            refuse_inside_inputs(record, "gate.json", run)
        except HarnessError as e:
            print(f"warning: the verdict is not recorded: {e}", file=sys.stderr)
            record = None
    run, verdicts = judge(a.run, a.rules, a.baseline, a.registry, run=run, adapters=a.adapter)
    from harness.gate.sequential import other_rules

    for line in other_rules(run, a.rules):
        print(f"warning: {line}", file=sys.stderr)
    print(gate_output.console(verdicts, run))
    if os.environ.get("GITHUB_ACTIONS") == "true":  # each failure annotated on the workflow run's page
        for line in gate_output.annotations(verdicts, run):
            print(line)
    gate_output.write_all(verdicts, run, a.junit, a.json)
    if record is not None:
        problem = gate_output.record(verdicts, run, record)
        if problem:
            print(f"warning: {problem}", file=sys.stderr)
    return 0 if all(r.passed for r in verdicts) else 1

"""`harness gate`: a verdict CI can act on, from run.json (+ a baseline run). No torch.

Rules (YAML, validated whole before anything is evaluated; every problem listed at once):
  floor          a metric of an arm >= value (the point estimate; the line shows its 95% CI)
  ceiling        a metric of an arm <= value (likewise)
  improves       the 95% CI's lower bound of adapter - base, in the metric's good direction, > margin (default 0);
                 require_ci (default true): false judges the point estimate alone (gain >= margin), and says so
  no_regression  non-inferiority against a baseline run: the 95% CI's lower bound of candidate - baseline (a paired
                 test on the documents both scored, always computed) > -tolerance (required, > 0)
  forgetting     non-inferiority on general tasks: the 95% CI's lower bound of adapter - base > -budget (required,
                 > 0). For both: the whole CI below -budget fails as "drop beyond the budget"; a CI across it fails
                 as "inconclusive: n = 40 cannot show a drop smaller than 0.05; about 310 questions would, if the
                 adapter changed nothing (at the churn observed)" (from the comparison's var_unit; no N when the
                 observed change is at or beyond the budget); no CI ("n too small", no test) fails with that reason
  not_degenerate a classification task's arm answers at least min_classes classes (default 2) and no one answer
                 for more than max_majority_share of the documents (default 0.9): a constant predictor fails
`significant_only` is gone (a rule with it is a config error that says what replaced it). Every check line shows
the change (good direction) or value, its 95% CI, n (clusters, and documents missing a value, when any) and what
decided it.

No multiplicity correction: the gate passes only when every check passes (an intersection-union test, Berger 1982),
and each check decided on an interval is a one-sided 2.5% test of its own claim, so the chance of a pass while any
claim is false is at most 2.5% however many checks there are. The report's significance stars, which answer "which
of many comparisons changed", are the ones adjusted over the run (Holm), and the gate never reads them.

Rules select tasks, metrics and arms by name or glob (`general_*`; `*` and `?`, brackets literal); an omitted arm
means every adapter arm. Per-group rows (metric names holding '[' such as `acc[abstract_algebra]`, score rows with a
"group" key) are selected only by a rule whose metric pattern itself holds '[' (`acc[*]`). A rule that selects no
(task, metric, arm) row, or a not_degenerate rule for an arm without diagnostics, is a config error.
Each adapter arm gets a verdict of its own: the rules that select it, judged on its checks and on the base's (a floor
on the base holds for every adapter, as it would for each one gated alone); a rule naming other arms is not judged
for it. `--adapter NAME` (repeatable) judges only those. Exit codes: 0 every adapter judged passed, 1 one failed, 2 a
usage or config error.

Modules: rules.py (loading and validating the rules YAML), select.py (what a rule selects), checks.py (one
checker per rule kind, CHECKS), baseline.py, verdict.py, judge.py (the gate in one call), output.py.
"""

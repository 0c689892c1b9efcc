"""`harness gate`: a verdict CI can act on, from run.json (+ a baseline run). No torch.

Rules (YAML, validated whole before anything is evaluated; every problem listed at once):
  floor          a metric of an arm >= value
  ceiling        a metric of an arm <= value
  improves       adapter - base >= margin (in the metric's good direction), optionally with the CI's lower bound > 0
  no_regression  candidate - baseline run >= -tolerance, optionally failing only when the drop is significant
  forgetting     on general tasks, adapter - base >= -budget, optionally failing only when the drop is significant
                 (with "n too small" there is no test, so a drop beyond the budget is never excused)
  not_degenerate a classification task's arm answers at least min_classes classes (default 2) and no one answer
                 for more than max_majority_share of the documents (default 0.9): a constant predictor fails
Rules select tasks, metrics and arms by name or glob (`general_*`); an omitted arm means every adapter arm.
Exit codes: 0 every rule passed, 1 a rule failed, 2 a usage or config error.

Modules: rules.py (loading and validating the rules YAML), select.py (what a rule selects), checks.py (one
checker per rule kind, CHECKS), baseline.py, verdict.py, judge.py (the gate in one call), output.py.
"""

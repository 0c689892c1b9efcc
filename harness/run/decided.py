"""`harness run --until-decided`: documents scored in chunks, in a seeded random order every arm shares, until every
rule on a task is decided (harness.gate.sequential) or its documents (or --max-docs) run out.

Each chunk asks lm-eval for the first k documents of the order (its `samples=`), so the per-arm cache answers the
documents of earlier chunks and only the new ones reach the model; an interrupted run resumes the same way. After
every chunk the samples are on disk, as a plain run leaves them. A task whose rules can never be decided early (a
corpus metric, clustered documents, a baseline the run cannot see, no rule at all) is scored to the end at once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from harness.core import results, sequential
from harness.core.errors import ConfigError


class _Docs(list):
    """Document indices for lm-eval's `samples=`, which asks `i in samples` once per document of the task: a set
    answers that in constant time (a list would make a 50,000-document task quadratic)."""

    def __init__(self, items):
        super().__init__(sorted(items))
        self._set = set(self)

    def __contains__(self, item) -> bool:
        return item in self._set


@dataclass
class _Task:
    name: str
    order: list
    looks: list[int]
    done: int = 0  # documents scored so far
    reason: str | None = None  # set once the task has stopped
    method: str | None = sequential.METHOD
    rules: str | None = None  # sha256 of the rules file the task stopped on
    results: dict = field(default_factory=dict)  # arm -> the ArmTaskResult of its last chunk
    seconds: dict = field(default_factory=dict)  # arm -> seconds over every chunk
    computed: dict = field(default_factory=dict)  # arm -> requests the model computed over every chunk

    @property
    def n(self) -> int:
        return len(self.order)

    def stopped(self, seed: int) -> dict:
        return {"docs": self.done, "of": self.n, "reason": self.reason, "method": self.method, "seed": seed,
                "looks": [k for k in self.looks if k <= self.done], "rules": self.rules}


def rules_problems(rules: list, cfg, task_objects: dict, adapters: list[str]) -> list[str]:
    """The rules checked before the model loads, against the scores the run will have (each task's metrics and
    filters, every arm): a misspelt metric or arm costs no chunk. not_degenerate (it needs the answers) and metric
    patterns of per-group rows are checked after the first chunk."""
    from harness.core.arms import BASE_ARM
    from harness.gate import rules as gate_rules
    from harness.run.records import metric_name

    arms = [BASE_ARM, *adapters]
    run = {"arms": [{"name": a} for a in arms], "tasks": {t: {} for t in cfg.tasks}, "scores": [], "diagnostics": []}
    for name, obj in task_objects.items():
        metrics = list(getattr(obj, "_metric_fn_list", None) or {})
        filters = [f.name for f in getattr(obj, "_filters", None) or []] or ["none"]
        hib = getattr(obj, "_higher_is_better", None) or {}
        run["scores"] += [{"task": name, "metric": metric_name(m, f, len(filters)), "filter": f, "arm": a,
                           "higher_is_better": hib.get(m)} for a in arms for m in metrics for f in filters]
    if len(run["tasks"]) != len(task_objects):
        return []  # a task not built ahead (a glob, a group): everything waits for the first chunk

    def early(i: int, rule) -> bool:
        return isinstance(rule, dict) and rule.get("kind") != "not_degenerate" and "[" not in str(rule.get("metric"))

    return [q for q in gate_rules.validate(rules, run, None, str(cfg.rules), only=early) if _ours(q)]


def _ours(problem: str) -> bool:
    """A problem the run must refuse; a no_regression rule's missing --baseline is the gate's to ask for."""
    return "(no_regression): needs a baseline" not in problem


def _tasks(cfg, p) -> dict[str, _Task]:
    from harness.core.fingerprint import sha256_file

    out, rules = {}, sha256_file(cfg.rules)
    for name in cfg.tasks:
        obj = p.task_objects.get(name)
        docs = getattr(obj, "eval_docs", None) if obj is not None else None
        if docs is None:
            raise ConfigError([f"--until-decided: task {name} is a group of tasks or was not built ahead; "
                               "run it without --until-decided"])
        if not len(docs):
            raise ConfigError([f"--until-decided: task {name} has no documents"])
        order = sequential.order(range(len(docs)), cfg.seed)
        out[name] = _Task(name, order, sequential.schedule(len(order), cfg.first_chunk, cfg.max_docs), rules=rules)
    return out


def _score_chunk(eng, cfg, p, arms: list[str], task: _Task, k: int) -> None:
    from harness.run import evaluate

    spec_of = {s.name: s for s in p.adapters}
    docs = _Docs(task.order[:k])
    for arm in arms:
        print(f"arm {arm}, task {task.name}: documents {task.done + 1}-{k} of {task.n} (seeded order)", file=sys.stderr)
        with eng.activate(arm):
            out = evaluate.evaluate_arm_task(eng, cfg, p.task_manager, task.name, spec_of.get(arm),
                                             p.task_objects.get(task.name), docs)
        for name, rows in out.samples.items():
            results.write_jsonl(results.samples_path(cfg.out, arm, name), rows)
        task.results[arm] = out
        task.seconds[arm] = task.seconds.get(arm, 0.0) + out.timing[task.name]["seconds"]
        task.computed[arm] = task.computed.get(arm, 0) + out.timing[task.name]["computed_requests"]
    task.done = k


def _provisional(tasks: dict[str, _Task], arms: list[str], seed: int) -> dict:
    """What the rules need to be judged on after a chunk: the arms, the tasks (with `stopped` as far as they got)
    and their scores, and the answer diagnostics not_degenerate reads."""
    run = {"arms": [{"name": a} for a in arms], "tasks": {}, "scores": []}
    for t in tasks.values():
        for arm in arms:
            run["tasks"].update(t.results[arm].tasks)
            run["scores"] += [dict(s, arm=arm) for s in t.results[arm].scores]
        run["tasks"][t.name]["stopped"] = t.stopped(seed)
    return run


def _judge(cfg, p, tasks: dict[str, _Task], arms: list[str], first: bool) -> dict:
    from harness.core import diagnostics
    from harness.gate import rules as gate_rules
    from harness.gate import sequential as seq

    cache: dict = {}

    def samples(arm: str, task: str) -> list[dict]:
        if (arm, task) not in cache:
            cache[(arm, task)] = results.read_samples(cfg.out, arm, task)
        return cache[(arm, task)]

    run = _provisional(tasks, arms, cfg.seed)
    diagnostics.fill(run, samples)
    if first:  # the rules' metrics exist from the first chunk on: a typo fails now, not after the whole run
        problems = [q for q in gate_rules.validate(p.rules, run, None, str(cfg.rules)) if _ours(q)]
        if problems:
            raise ConfigError(problems, what="gate rules")
    return seq.task_states(p.rules, run, samples, [t.name for t in tasks.values() if t.reason is None])


def _after_chunk(task: _Task, state, cfg) -> None:
    """Stop the task when its rules are decided or its documents (or --max-docs) have run out; send it to the end
    when they can never be decided early. A task with one look only, or sent to the end at its first look, was never
    free to stop early: the gate judges it on fixed-n intervals (`method` null), as a plain run."""
    cap = min(task.n, cfg.max_docs or task.n)
    if task.looks == [task.done]:  # its one look, the first chunk, is its last
        task.method = None
        task.reason = (f"all its {task.n} documents fit in the first chunk (--first-chunk {cfg.first_chunk})"
                       if task.done == task.n else f"--max-docs {cfg.max_docs} is within the first chunk")
        task.reason += ", so nothing could stop early: the gate judges it on fixed-n intervals, as a plain run"
    elif state.done:
        task.reason = "decided: every check on it passed or failed"
    elif state.to_the_end:
        if task.done < cap:
            if task.done == task.looks[0]:  # to the end from its first look: never free to stop
                task.method = None
            task.looks = [k for k in task.looks if k <= task.done] + [cap]
            return
        why = "; ".join(dict.fromkeys(state.to_the_end))
        task.reason = (f"ran to the end: {why}" if task.done == task.n
                       else f"--max-docs {cfg.max_docs} reached; it could not stop earlier: {why}")
    elif task.done >= task.n:
        task.reason = f"documents ran out, undecided: {', '.join(state.open)}"
    elif task.done >= cap:
        task.reason = f"--max-docs {cfg.max_docs} reached, undecided: {', '.join(state.open)}"


def score_until_decided(eng, cfg, p, arms: list[str]) -> tuple[list[dict], dict, dict]:
    """Chunks until every task has stopped; returns (scores, task facts with `stopped`, timing), as a plain run."""
    tasks = _tasks(cfg, p)
    first = True
    while open_ := [t for t in tasks.values() if t.reason is None]:
        for t in open_:
            _score_chunk(eng, cfg, p, arms, t, next(k for k in t.looks if k > t.done))
        states = _judge(cfg, p, tasks, arms, first)
        first = False
        for t in open_:
            _after_chunk(t, states[t.name], cfg)
            if t.reason is not None:
                print(f"{t.name}: {sequential.said(t.stopped(cfg.seed))}", file=sys.stderr)
    return _collect(tasks, arms, cfg.seed)


def _collect(tasks: dict[str, _Task], arms: list[str], seed: int) -> tuple[list[dict], dict, dict]:
    scores, info, timing = [], {}, {}
    for arm in arms:  # arm-major, as a plain run orders its scores
        for t in tasks.values():
            out = t.results[arm]
            scores += [dict(s, arm=arm) for s in out.scores]
            info.update(out.tasks)
            timing.setdefault(arm, {}).update(
                {name: dict(v, seconds=round(t.seconds[arm], 3), computed_requests=t.computed[arm])
                 for name, v in out.timing.items()})
    for t in tasks.values():
        info[t.name]["stopped"] = t.stopped(seed)
    return scores, info, timing

"""examples/github-actions.yml as shipped: its harness commands, read from the workflow, with only the model, the
adapter, the data and the number of documents swapped for small ones, run on the tiny real model from a folder laid
out like the repository it describes (harness-checkout/, baselines/accepted/). An unchanged candidate passes
examples/gates-ci.yaml against its own accepted run; a degenerate one fails, in the console, the ::error lines,
the step summary, the JUnit file and the report's first screen."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import _CORPUS, REPO
from test_gate_per_adapter import junit_cases

from harness.cli.app import main

WORKFLOW = REPO / "examples" / "github-actions.yml"


def workflow_commands() -> list[str]:
    """The harness command lines of the workflow's `run:` steps, in order, continuation lines joined."""
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    scripts = [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]
    lines = [" ".join(line.split()) for s in scripts for line in s.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line.startswith("harness ")]


def test_the_workflow_installs_from_a_checkout_and_gates_with_the_shipped_rules():
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = [step for job in doc["jobs"].values() for step in job["steps"]]
    install = next(s["run"] for s in steps if s.get("name", "").startswith("Install"))
    assert "pip install torch==" in install and "pip install -c harness-checkout/constraints.txt ./harness-checkout" in install
    assert "OWNER" not in WORKFLOW.read_text() and "git+" not in install
    run, gate, report = workflow_commands()
    assert run.startswith("harness run ") and report.startswith("harness report runs/candidate")
    assert gate.startswith("harness gate runs/candidate --rules harness-checkout/examples/gates-ci.yaml --baseline "
                           "baselines/accepted ")
    assert all(flag in gate.split() for flag in ("--junit", "--json", "--record"))
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("mikepenz/action-junit-report@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)


def one_star_adapter(base: Path, out: Path) -> Path:
    """A degenerate candidate: it rates every review one star. A rank-1 LoRA on the last layer's down_proj adds, in
    proportion to its input's projection on that input's mean direction (positive at every position), a push along
    the embeddings of " 1" and of a newline: the first makes "1" the likeliest star after any review, the second
    keeps general_qa's answers empty at once, as the base's are, so that only the classifier degrades (and no
    answer runs on to its 32 tokens)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base)
    last = model.config.num_hidden_layers - 1
    seen = []
    hook = model.model.layers[last].mlp.down_proj.register_forward_hook(lambda m, i, o: seen.append(i[0][0]))
    with torch.no_grad():
        for text in _CORPUS:
            model(tok(text, return_tensors="pt").input_ids)
    hook.remove()

    def unit(v):
        return v / v.norm()

    emb = model.get_input_embeddings().weight.detach()
    token = {s: tok(s, add_special_tokens=False).input_ids[-1] for s in (" 1", "\n")}
    push = unit(unit(emb[token[" 1"]]) + unit(emb[token["\n"]]))
    lora = get_peft_model(model, LoraConfig(r=1, lora_alpha=1, lora_dropout=0.0, target_modules=["down_proj"],
                                            layers_to_transform=[last]))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_A" in name:
                p.copy_(unit(torch.cat(seen).mean(0))[None, :])
            elif "lora_B" in name:
                p.copy_(200.0 * push[:, None])
    lora.save_pretrained(out)
    return out


def in_ci(work: Path, shared: Path, tinystories: Path, adapter: Path, monkeypatch, capsys,
          steps=("run", "gate", "report")) -> dict[str, tuple[int, str]]:
    """The workflow's commands from `work`, as a runner would run them: exit code and stdout per command."""
    data = shared / "data"
    swaps = {"--base qwen2.5-0.5b": f"--base {tinystories}", "candidate=adapters/candidate": f"candidate={adapter}",
             "yelp=data/yelp_val.csv": f"yelp={data / 'yelp_review_full_sample' / 'val.csv'}",
             "general_qa=data/nq_probe.jsonl": f"general_qa={data / 'nq_open' / 'NQ-open.dev.jsonl'}",
             # the fewest documents at which an unchanged candidate's interval (+-3.7/n) fits the rules' 0.05
             "--limit 500": "--limit 80"}
    monkeypatch.chdir(work)
    (work / "harness-checkout").symlink_to(REPO, target_is_directory=True)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(work / "summary.md"))
    done = {}
    for cmd in workflow_commands():
        sub = cmd.split()[1]
        if sub not in steps:
            continue
        for old, new in swaps.items():
            cmd = cmd.replace(old, new)
        done[sub] = (main(shlex.split(cmd)[1:]), capsys.readouterr().out)
    return done


@pytest.mark.slow
def test_the_workflow_passes_an_unchanged_candidate_and_fails_a_degenerate_one(shared, tinystories,
                                                                             tinystories_adapter, tmp_path,
                                                                             monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))  # the base's answers computed once
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry.sqlite"))
    main_branch, unchanged, degenerate = (tmp_path / n for n in ("main", "unchanged", "degenerate"))
    for w in (main_branch, unchanged / "baselines", degenerate / "baselines"):
        w.mkdir(parents=True)
    # the accepted baseline: the candidate's run on main, copied into the repository as the workflow says
    assert in_ci(main_branch, shared, tinystories, tinystories_adapter, monkeypatch, capsys, ("run",))["run"][0] == 0
    for w in (unchanged, degenerate):
        shutil.copytree(main_branch / "runs" / "candidate", w / "baselines" / "accepted")

    same = in_ci(unchanged, shared, tinystories, tinystories_adapter, monkeypatch, capsys)
    assert [code for code, _ in same.values()] == [0, 0, 0], same["gate"][1]
    out = same["gate"][1]
    assert "PASS candidate: 4 of 4 rules" in out and "verdict: PASS (1 of 1 adapters passed; 4 of 4 rules passed)" in out
    assert "paired change +0.0000 [95% CI -0.0458, +0.0458] (n=80): lower bound -0.0458 > -0.05" in out
    assert "::error" not in out and "- ✅ **candidate**: PASS" in (unchanged / "summary.md").read_text()
    assert [c["failure"] for c in junit_cases(unchanged / "reports" / "gate.xml")] == [None] * 4
    assert "**PASS** · **candidate** — gate: 4 of 4 rules pass" in (unchanged / "runs" / "candidate" / "report.md").read_text()

    bad = in_ci(degenerate, shared, tinystories, one_star_adapter(tinystories, tmp_path / "one_star"), monkeypatch,
                capsys)
    assert [code for code, _ in bad.values()] == [0, 1, 0]
    out = bad["gate"][1]
    # it answers "1" to nearly every review (its accuracy changed with it: no_regression fails too)
    assert re.search(r"^FAIL candidate: not_degenerate yelp_mc: \d of 5 classes predicted \(need >= 2\); most frequent "
                     r"answer 1 for (9\d\.\d|100\.0)% of n=80 \(limit 90%\): (near-)?constant predictor$", out, re.M), out
    fails = [line for line in out.splitlines() if line.startswith("FAIL candidate: ")]
    errors = [line for line in out.splitlines() if line.startswith("::error title=candidate%3A ")]
    assert len(errors) == len(fails) and errors[0].startswith("::error title=candidate%3A not_degenerate yelp_mc::")
    assert "- ❌ **candidate**: FAIL" in (degenerate / "summary.md").read_text()
    failed = [c["name"] for c in junit_cases(degenerate / "reports" / "gate.xml") if c["failure"] is not None]
    assert "not_degenerate yelp_mc[candidate]" in failed
    assert "**FAIL** · **candidate** — gate:" in (degenerate / "runs" / "candidate" / "report.md").read_text()

"""tables.tex as a paper pastes it: \\input into a one- and a two-column article, for the golden run (two adapters)
and a copy with three, it compiles without an overfull box; negative numbers carry a true minus; the sweep table is
compact (target modules summarised, steps for a --max-steps run, epochs otherwise)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.core import results
from reports import data, latex

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"
ALL_LINEAR = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
              "mlp.up_proj", "mlp.down_proj")


def _three_adapters(tmp_path) -> Path:
    """The golden run with a third adapter: lora_r16's scores under another name, its PEFT config listing full
    module paths of every linear layer (as PEFT writes them), trained with --max-steps 15."""
    run = results.load_run(GOLDEN_RUN)
    name = "lora_r32_all_linear"
    arm = copy.deepcopy(next(a for a in run["arms"] if a["name"] == "lora_r16"))
    arm["name"] = name
    arm["adapter"]["fingerprint"] = "sha256:" + "3" * 64
    arm["adapter"]["peft"].update(r=32, lora_alpha=64, target_modules=[f"model.layers.{i}.{m}" for i in range(2)
                                                                       for m in ALL_LINEAR])
    arm["adapter"]["training"] = {"summary": {"steps": 15, "config": {
        "learning_rate": 2e-4, "epochs": 1.0, "max_steps": 15, "target_modules": "all-linear"}}}
    run["arms"].append(arm)
    run["scores"] += [dict(s, arm=name) for s in run["scores"] if s["arm"] == "lora_r16"]
    run["comparisons"] += [dict(c, arm=name) for c in run["comparisons"] if c["arm"] == "lora_r16"]
    out = tmp_path / "three"
    shutil.copytree(GOLDEN_RUN / "samples", out / "samples")
    shutil.copytree(GOLDEN_RUN / "samples" / "lora_r16", out / "samples" / name)
    results.write_json(out / "run.json", run)
    return out


def _one_adapter(tmp_path) -> Path:
    """The golden run with lora_r8 alone beside the base."""
    run = results.load_run(GOLDEN_RUN)
    run["arms"] = run["arms"][:2]
    for key in ("scores", "comparisons", "diagnostics"):
        run[key] = [r for r in run.get(key) or [] if r["arm"] in ("base", "lora_r8")]
    out = tmp_path / "one"
    for arm in ("base", "lora_r8"):
        shutil.copytree(GOLDEN_RUN / "samples" / arm, out / "samples" / arm)
    results.write_json(out / "run.json", run)
    return out


def _pdflatex() -> str:
    path = shutil.which("pdflatex")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is not installed; CI must install it")
        pytest.skip("pdflatex is not installed")
    return path


@pytest.mark.parametrize("adapters", [1, 2, 3])
@pytest.mark.parametrize("columns", ["onecolumn", "twocolumn"])
def test_tables_compile_without_overfull_boxes(tmp_path, adapters, columns):
    pdflatex = _pdflatex()
    run_dir = {1: _one_adapter, 2: lambda _: GOLDEN_RUN, 3: _three_adapters}[adapters](tmp_path)
    report = data.load([run_dir])
    assert len(report.adapters) == adapters
    (tmp_path / "tables.tex").write_text(latex.render(report))
    (tmp_path / "paper.tex").write_text(
        f"\\documentclass[{columns}]{{article}}\n\\usepackage{{booktabs,graphicx}}\n\\begin{{document}}\n"
        "Text before the tables.\n\\input{tables.tex}\nText after the tables.\n\\end{document}\n")
    r = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert r.returncode == 0 and (tmp_path / "paper.pdf").exists(), log[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert "Overfull \\vbox" not in log, re.findall(r"Overfull \\vbox.*", log)


def test_negative_numbers_carry_a_true_minus():
    report = data.load([GOLDEN_RUN])
    tex = latex.render(report) + latex.render_full(report)
    # general_qa exact_match: lora_r8 is 0.1000 below base, its interval [-0.3425, +0.1560] (the appendix table).
    row = next(ln for ln in tex.splitlines() if ln.startswith(r"general\_qa & exact\_match"))
    assert "$-$0.1000" in row and "[$-$0.3425, +0.1560]" in row
    numeric_cells = [c for ln in tex.splitlines() if " & " in ln for c in ln.split(" & ")[2:]]
    assert not any(re.search(r"(?<![\w$])-\d", c) for c in numeric_cells)
    assert latex.number("-0.5 [-1.2, +0.3]") == "$-$0.5 [$-$1.2, +0.3]"
    assert latex.number("lora-r8 2e-4") == "lora-r8 2e-4"


def test_tables_use_booktabs_and_fit_the_line():
    tex = latex.render(data.load([GOLDEN_RUN]))
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == tex.count(r"\begin{tabular}{") == 3
    assert r"\hline" not in tex
    # every tabular is measured and scaled down to the line only where it is wider
    assert tex.count(r"\ifdim\wd0>\linewidth\ifdefined\resizebox\resizebox{\linewidth}{!}{\box0}") == 3
    # the paper table, five metrics wide, spans both columns of a two-column paper; the Yelp table fits one
    assert r"\begin{table*}[t]" in tex.split(r"\label{tab:golden-run-main}")[0]
    assert r"\begin{table}[t]" in tex.split(r"\label{tab:golden-run-main}")[1].split(r"\label{tab:golden-run-yelp}")[0]


def test_sweep_table_is_compact(tmp_path):
    report = data.load([_three_adapters(tmp_path)])
    sweep = latex.sweep_table(report)
    rows = {r[0]: r for r in sweep.rows}
    assert sweep.header[:7] == ["Adapter", "r", "α", "dropout", "targets", "lr", "trained"]
    assert rows["lora_r8"][1:7] == ["8", "16", "0.05", "q,v", "—", "—"]
    assert rows["lora_r32_all_linear"][1:7] == ["32", "64", "0.05", "all-linear (7)", "2e-4", "15 steps"]
    assert "model.layers" not in latex.render(report)


def test_targets_and_training_length_summaries():
    assert latex.targets_summary(["v_proj", "q_proj", "o_proj", "k_proj"]) == "q,k,v,o"
    assert latex.targets_summary([f"model.layers.{i}.{m}" for i in range(3) for m in ALL_LINEAR]) == "all-linear (7)"
    assert latex.targets_summary(["c_attn", "c_proj", "c_fc"], trained_as="all-linear") == "all-linear (3)"
    assert latex.targets_summary([f"layer{i}" for i in range(9)]) == "9 modules"
    assert latex.targets_summary("all-linear") == "all-linear"
    assert latex.targets_summary(None) == "—"
    assert latex.training_length({"steps": 15, "config": {"epochs": 1.0, "max_steps": 15}}) == "15 steps"
    assert latex.training_length({"steps": 360, "config": {"epochs": 3.0, "max_steps": -1}}) == "3 epochs"
    assert latex.training_length({"steps": 120, "config": {"epochs": 1.0, "max_steps": -1}}) == "1 epoch"
    assert latex.training_length(None) == "—"
    assert latex.learning_rate(2e-4) == "2e-4" and latex.learning_rate(1.5e-5) == "1.5e-5"

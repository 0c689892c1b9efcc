"""The paper table (reports/paper.py, rendered by reports/latex.py): tables.tex from a one-adapter run and from a
sweep of three checkpoints plus an adapter compiles in a two-column 10 pt article and a one-column article with
1-inch margins with no overfull box and no table scaled below 85% (TeX logs each table's natural width and the
line's); decimal points line up; every value, half-width and mark is recomputed from run.json here; bold only
where the best is significantly better than every other row; labels carry the run's name."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_latex import _one_adapter, _pdflatex  # the one-adapter run, pdflatex or a skip

from harness.core import comparisons, results
from harness.core.aggregations import aggregators
from harness.core.errors import HarnessError
from reports import data, latex, paper

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"


def _sweep(tmp_path: Path) -> Path:
    """The golden run's base and lora_r8, and lora_r16's scores as three checkpoints of a training run."""
    run = results.load_run(GOLDEN_RUN)
    src = next(a for a in run["arms"] if a["name"] == "lora_r16")
    out = tmp_path / "sweep-run"
    run["arms"] = [a for a in run["arms"] if a["name"] != "lora_r16"]
    for key in ("scores", "comparisons", "diagnostics"):
        rows = run.get(key) or []
        run[key] = [r for r in rows if r["arm"] != "lora_r16"]
    for step in (10, 20, 30):
        name = f"checkpoint-{step}"
        arm = copy.deepcopy(src)
        arm["name"] = name
        arm["adapter"]["fingerprint"] = f"sha256:{step:064d}"
        arm["adapter"]["checkpoint"] = {"step": step, "loss": 1.0 / step}
        run["arms"].append(arm)
        for key in ("scores", "comparisons"):
            run[key] += [dict(r, arm=name) for r in results.load_run(GOLDEN_RUN)[key] if r["arm"] == "lora_r16"]
        shutil.copytree(GOLDEN_RUN / "samples" / "lora_r16", out / "samples" / name)
    for arm in ("base", "lora_r8"):
        shutil.copytree(GOLDEN_RUN / "samples" / arm, out / "samples" / arm)
    results.write_json(out / "run.json", run)
    return out


def _compile(tmp_path: Path, columns: str, inputs: list[str]) -> str:
    body = "\n".join(f"Text before.\n\\input{{{name}}}\nText after." for name in inputs)
    (tmp_path / "paper.tex").write_text(
        f"\\documentclass[10pt,{columns}]{{article}}\n\\usepackage[margin=1in]{{geometry}}\n"
        f"\\usepackage{{booktabs,graphicx}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n")
    r = subprocess.run([_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert r.returncode == 0 and (tmp_path / "paper.pdf").exists(), log[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert "Overfull \\vbox" not in log, re.findall(r"Overfull \\vbox.*", log)
    return log


def _scales(log: str) -> dict[str, float]:
    """Each table's scale: 1 where it fits the line, else line / natural (what \\resizebox applied)."""
    joined = log.replace("\n", "")  # TeX wraps its log at 79 characters
    found = re.findall(r"harness-table (\S+): natural ([\d.]+)pt, line ([\d.]+)pt", joined)
    return {label: min(1.0, float(line) / float(nat)) for label, nat, line in found}


@pytest.mark.parametrize("columns", ["twocolumn", "onecolumn"])
@pytest.mark.parametrize("which", ["one", "sweep"])
def test_tables_compile_unscaled_below_85_percent(tmp_path, columns, which):
    run_dir = (_one_adapter if which == "one" else _sweep)(tmp_path)
    report = data.load([run_dir])
    assert len(report.adapters) == (1 if which == "one" else 4)
    (tmp_path / "tables.tex").write_text(latex.render(report))
    (tmp_path / "tables-full.tex").write_text(latex.render_full(report))
    scales = _scales(_compile(tmp_path, columns, ["tables.tex", "tables-full.tex"]))
    prefix = run_dir.name
    assert f"tab:{prefix}-main" in scales and f"tab:{prefix}-yelp" in scales
    assert len([k for k in scales if "-full-" in k]) == len(report.adapters)  # the appendix: one table per adapter
    assert min(scales.values()) >= 0.85, scales


def _paper_rows(tex: str) -> list[list[str]]:
    """The body rows of the first paper table, split into cells."""
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    return [[c.strip() for c in re.split(r"(?<!\\)&", line.rstrip("\\ "))] for line in body.strip().splitlines()]


def test_decimal_points_line_up_and_numbers_match_run_json(tmp_path):
    report = data.load([GOLDEN_RUN])
    tex = latex.render(report, "yelp/accuracy,general_qa/exact_match,perplexity/token_perplexity")
    rows = _paper_rows(tex)
    run = json.loads((GOLDEN_RUN / "run.json").read_text())
    score = {(s["task"], s["metric"], s["arm"]): s for s in run["scores"]}
    arms = ["base", "lora_r8", "lora_r16"]
    assert [r[0] for r in rows] == ["Base", "lora\\_r8", "lora\\_r16"]
    for j, key in enumerate([("yelp", "accuracy"), ("general_qa", "exact_match"), ("perplexity", "token_perplexity")]):
        whole, frac, pm, mark = (1 + 4 * j + k for k in range(4))
        assert len({len(r[frac]) for r in rows}) == 1  # the same decimals down a column: the points line up
        for r, arm in zip(rows, arms):
            s = score[(*key, arm)]
            dec = len(r[frac]) - 1
            assert float(r[whole] + r[frac]) == pytest.approx(s["value"], abs=0.5 * 10 ** -dec + 1e-9)
            if s.get("ci95") and "[" in r[pm]:  # a lopsided interval is printed whole
                lo, hi = (float(x) for x in re.findall(r"-?[\d.]+", r[pm].replace("$-$", "-")))
                assert (lo, hi) == pytest.approx(tuple(s["ci95"]), abs=0.5 * 10 ** -dec + 1e-9)
                assert paper._lopsided(s["value"], s["ci95"])
            elif s.get("ci95"):
                half = max(s["value"] - s["ci95"][0], s["ci95"][1] - s["value"])
                shown = float(r[pm].replace(r"{\footnotesize $\pm$", "").rstrip("}"))
                assert shown == pytest.approx(half, abs=0.5 * 10 ** -dec + 1e-9)
                assert not paper._lopsided(s["value"], s["ci95"])
            else:
                assert r[pm] == ""
            c = next((c for c in run["comparisons"] if (c["task"], c["metric"], c["arm"]) == (*key, arm)), None)
            small = bool(c and c.get("test") == "n too small")
            assert (r[mark] != "") == bool(c and (c.get("significant") or small))
            assert (r[mark] == r"$^{\circ}$") == small


def test_labels_carry_the_run_name_so_two_runs_share_a_paper(tmp_path):
    a, b = _one_adapter(tmp_path), _sweep(tmp_path)
    (tmp_path / "a.tex").write_text(latex.render(data.load([a])))
    (tmp_path / "b.tex").write_text(latex.render(data.load([b])))
    log = _compile(tmp_path, "twocolumn", ["a.tex", "b.tex"])
    assert "multiply defined" not in log
    assert r"\label{tab:one-main}" in (tmp_path / "a.tex").read_text()


def _accuracy_run(tmp_path: Path, correct: dict[str, float]) -> Path:
    """The golden base on Yelp accuracy and one adapter arm per entry (name -> share of reviews right)."""
    run = results.load_run(GOLDEN_RUN)
    out = tmp_path / "acc"
    base_rows = results.read_samples(GOLDEN_RUN, "base", "yelp")
    run["tasks"] = {"yelp": dict(run["tasks"]["yelp"], aggregations={"accuracy": "accuracy"})}
    run["arms"] = [run["arms"][0]]
    run["scores"] = [dict(s, ci95=None) for s in run["scores"]
                     if (s["task"], s["metric"], s["arm"]) == ("yelp", "accuracy", "base")]
    results.write_jsonl(results.samples_path(out, "base", "yelp"), base_rows)
    for k, (name, share) in enumerate(correct.items()):
        rows = [dict(copy.deepcopy(r), metrics={"accuracy": [r["metrics"]["accuracy"][0], r["metrics"]["accuracy"][0]
                if i < round(share * len(base_rows)) else (r["metrics"]["accuracy"][0] + 1) % 5]})
                for i, r in enumerate(base_rows)]
        results.write_jsonl(results.samples_path(out, name, "yelp"), rows)
        run["arms"].append({"name": name, "adapter": {"path": f"out/{name}", "fingerprint": f"sha256:{k:064d}",
                                                      "peft": {"peft_type": "LORA", "r": 8}}})
        run["scores"].append(dict(run["scores"][0], arm=name, ci95=None, value=float(
            aggregators()["accuracy"]([x["metrics"]["accuracy"] for x in rows]))))
    run["comparisons"] = []
    comparisons.fill(run, out, resamples=200, seed=0)
    results.write_json(out / results.RUN_FILE, run)
    return out


def _bold_rows(report) -> list[str]:
    rows = _paper_rows(latex.render(report, "yelp/accuracy"))
    return [r[0] for r in rows if r"\textbf" in r[1]]


def test_bold_only_where_the_best_beats_every_other_row(tmp_path):
    alone = data.load([_accuracy_run(tmp_path / "a", {"good": 1.0})])
    assert _bold_rows(alone) == ["good"]  # 40 of 40 right against the base's 14: significant, bold
    tied = data.load([_accuracy_run(tmp_path / "b", {"good": 1.0, "as-good": 0.975})])
    assert _bold_rows(tied) == []  # both beat the base, but the best is tied with the other: nothing bold
    stands = data.load([_accuracy_run(tmp_path / "c", {"good": 1.0, "poor": 0.4})])
    assert _bold_rows(stands) == ["good"]


def test_chosen_metrics_and_their_errors():
    report = data.load([GOLDEN_RUN])
    assert paper.choose(report, "docqa/bleu4, yelp/f1_macro") == [("docqa", "bleu4"), ("yelp", "f1_macro")]
    assert paper.choose(report, None)[0] == ("yelp", "f1_macro")
    with pytest.raises(HarnessError, match="its metrics: .*yelp/f1_macro"):
        paper.choose(report, "yelp/f1")
    with pytest.raises(HarnessError, match="its tasks: yelp, docqa"):
        paper.choose(report, "nope/acc")
    with pytest.raises(HarnessError, match="names no metric"):
        paper.choose(report, " , ")
    assert paper.human_metric("f1_macro") == "Macro-F1" and paper.human_metric("my_score") == "my score"


def test_a_table_too_wide_for_the_text_is_split(tmp_path):
    report = data.load([GOLDEN_RUN])
    every = ",".join(f"{t}/{m}" for t, m in dict.fromkeys(zip(report.scores.task, report.scores.metric))
                     if not m.startswith("n_"))
    tex = latex.render(report, every)
    labels = re.findall(r"\\label\{(tab:golden-run-main[^}]*)\}", tex)
    assert len(labels) >= 2 and labels[0] == "tab:golden-run-main"
    (tmp_path / "tables.tex").write_text(tex)
    scales = _scales(_compile(tmp_path, "twocolumn", ["tables.tex"]))
    assert min(scales.values()) >= 0.85, scales


def test_cli_writes_the_chosen_paper_table_and_the_appendix(tmp_path, monkeypatch, capsys):
    from harness.cli.app import main

    shutil.copytree(GOLDEN_RUN, tmp_path / "run")
    monkeypatch.chdir(tmp_path)  # relative paths, as typed
    assert main(["report", "run", "--format", "tex", "--out", "paper", "--paper-metrics",
                 "general_qa/f1,yelp/f1_macro", "--paper-ci", "ci"]) == 0
    tex = (tmp_path / "paper" / "tables.tex").read_text()
    main_table = tex.split(r"\label{tab:run-main}")[0]
    assert "NQ-open" in main_table and "Macro-F1" in main_table and "EM" not in main_table
    assert main_table.index("NQ-open") < main_table.index("Yelp")  # the user's order
    assert "brackets give each score's 95" in main_table
    assert (tmp_path / "paper" / "tables-full.tex").is_file()
    capsys.readouterr()
    assert main(["report", "run", "--format", "tex", "--out", "bad", "--paper-metrics", "yelp/f1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "yelp/f1_macro" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()  # nothing half-written
    assert main(["report", "run", "--format", "md", "--out", "md", "--paper-metrics", "yelp/f1_macro"]) == 2
    assert "add tex to --format" in capsys.readouterr().err

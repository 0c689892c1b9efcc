"""Reports from run directories: golden Markdown and LaTeX, LaTeX that compiles, HTML that renders in a real
browser without running model output, merged sweeps, no torch, blind rating sheets; stars that follow the adjusted
p-value, MDE and missing counts beside n, forgetting read as non-inferiority, the gate's verdict.

The golden files (tests/data/golden/report.md, tables.tex) are the report of tests/data/golden_run. After a change to
what the report shows (or to the fixture, tests/data/make_golden.py), read the diff, then regenerate them with
    python tests/test_reports.py
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import results
from reports import blind, data, document, latex, markdown, numbers, text

DATA = Path(__file__).resolve().parent / "data"
GOLDEN_RUN = DATA / "golden_run"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is not installed; .ci/run installs it")
        pytest.skip(f"{tool} is not installed")
    return path


def test_markdown_matches_golden():
    report = data.load([GOLDEN_RUN])
    assert markdown.render(report, []) == (DATA / "golden" / "report.md").read_text()


def test_latex_matches_golden():
    assert latex.render(data.load([GOLDEN_RUN])) == (DATA / "golden" / "tables.tex").read_text()


def test_latex_escapes_specials():
    assert latex.tex("lora_r8 & 100% {x} #1 $ ~ ^ \\") == (
        r"lora\_r8 \& 100\% \{x\} \#1 \$ \textasciitilde{} \textasciicircum{} \textbackslash{}")


def test_latex_compiles(tmp_path):
    pdflatex = _need("pdflatex")
    shutil.copy(DATA / "golden" / "tables.tex", tmp_path / "tables.tex")
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n"
                                        "\\begin{document}\n\\input{tables.tex}\n\\end{document}\n")
    r = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000


def test_markdown_escapes_model_output():
    md = (DATA / "golden" / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md and "<img" not in md


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(GOLDEN_RUN), "--out", str(out)]) == 0
    return out


def test_report_writes_every_format(rendered):
    for name in ("report.md", "report.html", "tables.tex", "plots/scores.png", "plots/scores.pdf", "plots/deltas.png",
                 "plots/yelp_confusion.png", "plots/yelp_confusion.pdf"):
        assert (rendered / name).stat().st_size > 0, name
    assert "![plots/deltas.png](plots/deltas.png)" in (rendered / "report.md").read_text()


def _chromium(*args) -> subprocess.CompletedProcess:
    chromium = _need("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120)


def test_html_renders_and_never_runs_model_output(rendered, tmp_path):
    page = (rendered / "report.html").as_uri()
    dom = _chromium(f"--user-data-dir={tmp_path / 'a'}", "--dump-dom", page).stdout
    assert re.search(r"<title>Adapter evaluation: tiny-base</title>", dom), dom[:500]
    # The answer's <script> and <img onerror> are text in the page, not elements.
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom
    assert '<img src="x"' not in dom and "PWNED</title>" not in dom
    assert dom.count("<script>") == 1, "only the report's own filter script"
    assert 'id="samples"' in dom and dom.count("data:image/png;base64,") >= 3
    shot = tmp_path / "shot.png"
    _chromium(f"--user-data-dir={tmp_path / 'b'}", "--window-size=1200,1600", f"--screenshot={shot}", page)
    assert shot.stat().st_size > 20_000


@pytest.mark.slow  # over 10 s on the 2-core CPU: runs in CI, not in -m 'not slow'
def test_report_does_not_import_torch(tmp_path):
    code = ("import sys; from harness.cli.app import main; "
            f"rc = main(['report', {str(GOLDEN_RUN)!r}, '--out', {str(tmp_path)!r}]); "
            "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.split() == ["0", "False", "False"], r.stderr[-2000:]


def _split(tmp_path) -> list[Path]:
    """The golden run as two runs of a sweep, one adapter each."""
    run = results.load_run(GOLDEN_RUN)
    dirs = []
    for adapter in ("lora_r8", "lora_r16"):
        d = tmp_path / adapter
        part = copy.deepcopy(run)
        part["run_id"] += "-" + adapter
        part["arms"] = [a for a in run["arms"] if a["name"] in ("base", adapter)]
        part["scores"] = [s for s in run["scores"] if s["arm"] in ("base", adapter)]
        part["comparisons"] = [c for c in run["comparisons"] if c["arm"] == adapter]
        for arm in ("base", adapter):
            shutil.copytree(GOLDEN_RUN / "samples" / arm, d / "samples" / arm)
        results.write_json(d / "run.json", part)
        dirs.append(d)
    return dirs


def test_sweep_runs_merge_into_one_table(tmp_path):
    dirs = _split(tmp_path)
    merged = data.load(dirs)
    assert merged.adapters == ["lora_r8", "lora_r16"]

    def tables_only(tex: str) -> str:  # the captions name the family: each run's own, once merged
        # (and the labels, which carry the first run's folder name)
        return re.sub(r"\\label\{[^}]*\}|\\typeout\{[^}]*\}", "", re.sub(r"\\caption\{.*\}", "", tex))

    assert tables_only(latex.render(merged)) == tables_only(latex.render(data.load([GOLDEN_RUN])))
    assert "each run's own comparisons (26 in 20260101-000000-golden-lora_r8, 26 in" in markdown.render(merged, [])
    other = results.load_run(dirs[1])
    other["base"]["fingerprint"] = "sha256:" + "9" * 64
    results.write_json(dirs[1] / "run.json", other)
    assert main(["report", *map(str, dirs), "--out", str(tmp_path / "o")]) == 2


def test_blind_round_trip(tmp_path, capsys):
    out = tmp_path / "blind"
    assert main(["blind", "export", str(GOLDEN_RUN), "--task", "docqa", "--n", "10", "--arm", "lora_r8", "--out", str(out)]) == 0
    assert "key:" in capsys.readouterr().out
    sheet_text = (out / "sheet.csv").read_text() + (out / "sheet.html").read_text()
    for leak in ("lora_r8", "lora_r16", "base", "doc_id", "golden", "adapter"):
        assert leak not in sheet_text, leak
    key = json.loads((out / "key.json").read_text())
    assert len(key["items"]) == 10 and {v["adapter"] for v in key["items"].values()} == {"A", "B"}
    with open(out / "sheet.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # A rater who prefers the adapter on items 1-6, the base on 7-8, and calls 9-10 a tie.
    for row in rows:
        item = int(row["item"])
        side = key["items"][row["item"]]["adapter"]
        row["preference"] = side if item <= 6 else ("tie" if item > 8 else ("B" if side == "A" else "A"))
    with open(out / "filled.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=blind.SHEET_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    assert main(["blind", "score", str(out / "filled.csv"), str(out / "key.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["wins"] == 6
    res = blind.score(out / "filled.csv", out / "key.json")
    assert (res["wins"], res["ties"], res["losses"]) == (6, 2, 2)
    assert res["win_rate"] == pytest.approx(0.75) and res["win_rate_ci95"][0] < 0.75 < res["win_rate_ci95"][1]
    rows[0]["preference"] = "maybe"
    with open(out / "bad.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=blind.SHEET_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    assert main(["blind", "score", str(out / "bad.csv"), str(out / "key.json")]) == 2
    assert "column 'preference': 'maybe'; write A, B or tie" in capsys.readouterr().err


# --- one source for every table ----------------------------------------------------------------------------------

def _md_cells(md: str) -> list[str]:
    import html as html_lib

    cells = []
    for line in md.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        for cell in re.split(r"(?<!\\)\|", line.strip().strip("|")):
            cell = html_lib.unescape(cell.strip().replace("\\|", "|")).removeprefix("**").removesuffix("**")
            cells.append(cell.rstrip("…").strip())
    return [c for c in cells if c and c != "∅"]


def _html_text(page: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(page.replace("<wbr>", ""))  # a line-break opportunity inside a word, not a space
    return " ".join(" ".join(parser.parts).split())


@pytest.mark.parametrize("which", ["golden", "sweep-with-duplicate", "with-gate"])
def test_html_holds_every_table_and_number_of_the_markdown(which, tmp_path):
    from reports import html as html_report

    dirs = {"golden": lambda: [GOLDEN_RUN], "sweep-with-duplicate": lambda: [GOLDEN_RUN, _split(tmp_path)[0]],
            "with-gate": lambda: [_gated(tmp_path)]}[which]()
    report = data.load(dirs)
    md = markdown.render(report, [])
    page = _html_text(html_report.render(report, tmp_path, []))
    cells = _md_cells(md)
    assert len(cells) > 200
    missing = [c for c in cells if " ".join(c.split()) not in page]
    assert missing == []
    numbers_in_md = set(re.findall(r"[+-]?\d+\.\d+|\bn=\d+|\d+ < \d+", md))
    assert [x for x in numbers_in_md if x not in page] == []
    for heading in re.findall(r"^#+ (.+)$", md, re.M):
        assert heading in page, heading


def test_same_adapter_weights_twice_are_one_arm(tmp_path):
    """Two runs of the same adapter (same fingerprint) merge into one arm, with a note saying so."""
    first, second = _split(tmp_path)
    again = tmp_path / "again"
    shutil.copytree(first, again)
    run = results.load_run(again)
    run["run_id"] += "-again"
    results.write_json(again / "run.json", run)
    report = data.load([first, again, second])
    assert report.adapters == ["lora_r8", "lora_r16"]
    assert len(report.notes) == 1 and "same adapter weights as 'lora_r8'" in report.notes[0]
    md = markdown.render(report, [])
    assert "> **Warnings (1):**" in md and "shown once" in md and "lora_r8@" not in md


def test_small_n_reads_n_too_small_everywhere(tmp_path):
    """perplexity in the golden run has 6 documents: no CI, no stars, no verdict; and nowhere does the report call
    a comparison without a significant change a pass ("no significant change")."""
    report = data.load([GOLDEN_RUN])
    md = markdown.render(report, [])
    rows = [ln for ln in _section(md, "Headline").splitlines() if ln.startswith("| perplexity |")]
    assert rows and all("n too small: 6 documents &lt; 20" in ln for ln in rows)
    assert all("[" not in ln.split("|")[col] and "*" not in ln.split("|")[col] for ln in rows for col in (7, 8))
    assert "no significant change" not in md
    tex = latex.render_full(report)
    assert re.search(r"token\\_perplexity \$\\downarrow\$ & 6 & .* & n too small & .*0\.031.*\(exact\)", tex)
    run = results.load_run(GOLDEN_RUN)
    assert {c["test"] for c in run["comparisons"] if c["task"] == "perplexity"} == {"n too small"}
    for c in run["comparisons"]:
        if c["test"] == "n too small":
            assert c["ci95"] is None and c["p_value"] is None and c["p_adjusted"] is None and not c["significant"]
            assert c["mde"] is None
            continue
        # The raw p-value and the per-comparison CI are one statement ...
        assert (c["p_value"] < 0.05) == (not c["ci95"][0] <= 0 <= c["ci95"][1]), c
        # ... the star is another: the p-value adjusted over the run's family.
        assert c["family"] and c["p_adjusted"] >= c["p_value"], c
        assert c["significant"] == (c["p_adjusted"] < 0.05), c
        assert c["mde"] > 0 and c["n_missing"] == 0, c
    # The golden run holds the case a reader must not misread: a CI off 0, raw p < 0.05, no star after Holm.
    assert any(c["p_value"] is not None and c["p_value"] < 0.05 and not c["significant"] for c in run["comparisons"])


def test_score_plot_draws_the_tables_cis_and_none_where_there_is_none(tmp_path, monkeypatch):
    """scores.png: each whisker spans the arm's ci95 from run.json; an arm without one (perplexity, 6 documents) gets
    no whisker at all (a zero-length one would read as a very precise value) and its panel says why."""
    from matplotlib.container import ErrorbarContainer

    from reports import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, name, formats: figures.append(fig) or [])
    report = data.load([GOLDEN_RUN])
    plots.bars(report, tmp_path, {"png"})
    (fig,) = figures
    run = results.load_run(GOLDEN_RUN)
    ci = {(s["task"], s["metric"], s["arm"]): s.get("ci95") for s in run["scores"]}
    arms = ["base", *report.adapters]
    checked = {"with": 0, "without": 0}
    for ax in fig.axes:
        title = ax.get_title()
        if ":" not in title:
            continue
        task, metric = title.split(" (")[0].split("\n")[0].split(": ")
        bars_drawn = {}
        for c in ax.containers:
            if isinstance(c, ErrorbarContainer):
                (x,), (y,) = c.lines[0].get_data()
                segment = c.lines[2][0].get_segments()[0]
                bars_drawn[arms[int(round(x))]] = sorted(p[1] for p in segment)
        for a in arms:
            expected = ci[(task, metric, a)]
            if expected is None:
                assert a not in bars_drawn and "no CI" in title, (task, metric, a)
                checked["without"] += 1
            else:
                assert bars_drawn[a] == pytest.approx(expected), (task, metric, a)
                checked["with"] += 1
    assert checked["with"] >= 6 and checked["without"] >= 2, checked


def test_a_value_without_a_ci_says_why(tmp_path):
    """Per-task tables: a value printed without a CI under a '[95% CI]' header gets a caption with the reason."""
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    run = results.load_run(run_dir)
    run["config"]["resamples"] = 0
    for s in run["scores"]:
        s["ci95"] = None
    results.write_json(run_dir / "run.json", run)
    md = markdown.render(data.load([run_dir]), [])
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", md, re.M | re.S))
    assert "Values without a CI: fewer than 10 documents." in sections["perplexity"]
    assert "Values without a CI: --resamples 0." in sections["yelp"]
    assert "Values without a CI" not in markdown.render(data.load([GOLDEN_RUN]), []).split("## perplexity")[0]


def test_a_value_without_a_ci_for_want_of_clusters_says_so(tmp_path):
    """12 questions from 6 pages: enough documents, too few clusters; the caption and the plot must not blame the
    metric's aggregation."""
    from reports import tables

    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    for arm in ("base", "lora_r8", "lora_r16"):
        rows = results.read_samples(run_dir, arm, "docqa")
        results.write_jsonl(results.samples_path(run_dir, arm, "docqa"),
                            [dict(r, cluster=f"page{r['doc_id'] // 2}") for r in rows])
    run = results.load_run(run_dir)
    for sc in run["scores"]:
        if sc["task"] == "docqa":
            sc["ci95"] = None
    results.write_json(run_dir / "run.json", run)
    report = data.load([run_dir])
    assert tables.no_ci_reason(report, 12, "docqa") == "fewer than 10 clusters (6)"
    md = markdown.render(report, [])
    docqa = md.split("\n## docqa\n", 1)[1].split("\n## ", 1)[0]
    assert "Values without a CI: fewer than 10 clusters (6)." in docqa and "no resampling method" not in docqa


def test_report_never_rewrites_an_input_run(tmp_path):
    """A run written before statistics existed: the report computes them in memory and leaves run.json as it was."""
    run_dir = tmp_path / "old"
    shutil.copytree(GOLDEN_RUN, run_dir)
    old = json.loads((run_dir / "run.json").read_text())
    old.pop("statistics", None)
    old["comparisons"] = []
    (run_dir / "run.json").write_text(json.dumps(old))
    before = (run_dir / "run.json").read_bytes()
    assert main(["report", str(run_dir), "--out", str(tmp_path / "rep"), "--format", "md"]) == 0
    assert (run_dir / "run.json").read_bytes() == before
    # the deltas were computed all the same: signed values with their CI
    assert re.search(r"[+−-]\d\.\d{4} \[[+−-]\d\.\d{4}, [+−-]\d\.\d{4}\]", (tmp_path / "rep" / "report.md").read_text())


# --- stars after the run's adjustment, MDE and missing counts beside n, forgetting, the gate -------------------------

def _copy(tmp_path: Path, edit) -> Path:
    """The golden run copied to tmp_path, its run.json changed by `edit(run)`."""
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    run = results.load_run(run_dir)
    edit(run)
    results.write_json(run_dir / "run.json", run)
    return run_dir


def _comparison(run: dict, task: str, metric: str, arm: str) -> dict:
    return next(c for c in run["comparisons"] if (c["task"], c["metric"], c["arm"]) == (task, metric, arm))


def _line(md: str, start: str) -> str:
    return next(ln for ln in md.splitlines() if ln.startswith(start))


def _section(md: str, heading: str) -> str:
    """The text of one `## heading` section (several tables start their rows with a task and a metric)."""
    return md.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_stars_and_colours_follow_the_adjusted_p(tmp_path, monkeypatch):
    """A raw p < 0.05 whose adjusted p is not gets no star and no colour, in the headline, the task table, the
    forgetting table and deltas.png; an adjusted p < 0.01 gets two stars and the colour. Both p-values are printed."""
    from reports import plots

    def edit(run):
        _comparison(run, "yelp", "accuracy", "lora_r8").update(p_value=0.0004, p_adjusted=0.004, significant=True)
        _comparison(run, "yelp", "accuracy", "lora_r16").update(p_value=0.01, p_adjusted=0.2, significant=False)
        _comparison(run, "general_qa", "f1", "lora_r8").update(ci95=[-0.2, -0.01], p_value=0.03, p_adjusted=0.6,
                                                                 significant=False)
        _comparison(run, "general_qa", "exact_match", "lora_r8").update(ci95=[-0.2, -0.01], p_value=0.001,
                                                                          p_adjusted=0.02, significant=True)

    report = data.load([_copy(tmp_path, edit)])
    md = markdown.render(report, [])
    r8, r16 = _line(md, "| yelp | accuracy ↑ |").split("|")[7:9]
    assert r8.strip() == "▲ +0.3500 [+0.1295, +0.5360]**" and r16.strip() == "+0.2750 [+0.0210, +0.4921]"
    assert document.headline_table(report).tone == {(0, 6): "good", (13, 6): "bad"}  # general_qa exact_match: a drop
    yelp = document.task_table(report, "yelp")
    assert yelp.rows[0][5].endswith("]**") and not yelp.rows[0][6].endswith("*") and yelp.tone == {(0, 5): "good"}
    em = _line(_section(md, "Forgetting"), "| general_qa | exact_match | lora_r8 |")
    assert "p 0.001, Holm 0.020" in em and em.endswith("| significant drop |")
    f1 = _line(_section(md, "Forgetting"), "| general_qa | f1 | lora_r8 |")
    assert "p 0.030, Holm 0.600" in f1 and "significant drop" not in f1
    assert f1.endswith("not significant among the run's comparisons; rules out a drop larger than 0.2000 |")
    forgetting = document.forgetting_table(report)
    assert {i for (i, j), tone in forgetting.tone.items() if tone == "bad"} == {0}  # exact_match lora_r8 only
    assert "A CI that excludes 0 without a star is not significant once the run's 26 comparisons are accounted" in md
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, name, formats: figures.append(fig) or [])
    plots.forest(report, tmp_path, {"png"})
    (fig,) = figures
    assert "after Holm over the run's 26 comparisons" in fig._suptitle.get_text()
    colours = {}
    for ax in fig.axes:
        intervals = [ln for ln in ax.get_lines() if ln.get_linewidth() == 2]
        colours[ax.get_title()] = [ln.get_color() for ln in intervals]
    better, worse, neutral = (plots.PALETTE[k] for k in ("better", "worse", "neutral"))
    assert colours["yelp: accuracy ↑"] == [better, neutral]
    assert colours["general_qa: exact_match ↑"] == [worse, neutral]  # a significant drop
    assert colours["general_qa: f1 ↑"] == [neutral, neutral]


def test_per_group_rows_are_descriptive(tmp_path):
    """metric[group] rows (family false): shown with their CIs, never a star (not even when a run marks one
    significant), no adjusted p, and a forgetting verdict that says it is descriptive."""
    def edit(run):
        for arm in ("base", "lora_r8", "lora_r16"):
            run["scores"].append({"task": "general_qa", "metric": "f1[geo]", "filter": "none", "arm": arm,
                                  "value": 0.5, "stderr": None, "ci95": [0.3, 0.7], "n": 30, "higher_is_better": True,
                                  "group": "geo", "of": "f1"})
        for arm, flagged in (("lora_r8", False), ("lora_r16", True)):
            run["comparisons"].append(dict(_comparison(run, "general_qa", "f1", arm), metric="f1[geo]", family=False,
                                           delta=-0.2, ci95=[-0.3, -0.1], p_value=0.0001, p_adjusted=None,
                                           significant=flagged))

    md = markdown.render(data.load([_copy(tmp_path, edit)]), [])
    row = _line(md, "| f1[geo] |")
    assert "*" not in row and "-0.2000 [-0.3000, -0.1000]" in row
    assert "Rows metric[group] are per group and descriptive" in md
    for arm in ("lora_r8", "lora_r16"):
        line = _line(md, f"| general_qa | f1[geo] | {arm} |")
        assert "p &lt;0.001 (descriptive)" in line and "significant" not in line.replace("not significant", "")
        assert line.endswith("| descriptive (per group): a drop by its own CI, not significant among the run's "
                             "comparisons; rules out a drop larger than 0.3000 |")


def test_n_shows_mde_missing_and_clusters(tmp_path):
    """n (MDE) in the headline and task tables, MDE in the forgetting table, "+ k missing" and "in K clusters" where
    a comparison has them, and the statistics note counts them."""
    golden = markdown.render(data.load([GOLDEN_RUN]), [])
    # the MDEs are exact (harness.core.power, checked there against a brute-force enumeration): churn 0.55 and
    # 0.675 at n = 40; churn 0.5 at n = 30
    assert "| yelp | accuracy ↑ | 40 (MDE 0.32 / 0.35) |" in golden
    assert _line(_section(golden, "Forgetting"), "| general_qa | f1 | lora_r8 |").startswith("| general_qa | f1 | lora_r8 | 30 | 0.34 |")
    assert "Missing values:" in golden and "none here" in golden and "Clusters: no task here declares any" in golden

    def edit(run):
        for arm in ("lora_r8", "lora_r16"):
            _comparison(run, "general_qa", "f1", arm).update(n=28, n_missing=2, n_clusters=14, mde=0.4)

    report = data.load([_copy(tmp_path, edit)])
    md = markdown.render(report, [])
    assert "| general_qa | f1 ↑ | 28 in 14 clusters + 2 missing (MDE 0.40) |" in md
    assert _line(_section(md, "Forgetting"), "| general_qa | f1 | lora_r8 |").startswith(
        "| general_qa | f1 | lora_r8 | 28 in 14 clusters + 2 missing | 0.40 |")
    assert "Clusters (general_qa: 14 clusters)" in md and "here 2 comparisons, 4 document pairs in all" in md
    assert "28 in 14 clusters + 2 missing" in latex.render_full(report)
    # too few clusters, though documents enough: the reason names the clusters
    assert text.too_small({"n": 12, "min_n": 10, "n_clusters": 6}) == "6 clusters < 10"
    assert text.too_small({"n": 12, "min_n": 20, "n_clusters": 6}) == "12 documents < 20"


def test_forgetting_never_passes_on_no_significant_change():
    """Each general-task verdict is a drop shown after the adjustment, the drop its CI rules out, or n too small."""
    report = data.load([GOLDEN_RUN])
    md = markdown.render(report, [])
    run = results.load_run(GOLDEN_RUN)
    for c in run["comparisons"]:
        if c["task"] == "general_qa":
            shown = numbers.value(-c["ci95"][0])
            assert _line(_section(md, "Forgetting"), f"| general_qa | {c['metric']} | {c['arm']} |").endswith(
                f"| rules out a drop larger than {shown} |")
    assert "Forgetting is read as non-inferiority" in md


RULES = """rules:
  - kind: not_degenerate
    task: yelp
  - kind: improves
    task: yelp
    metric: accuracy
  - kind: forgetting
    task: general_qa
    metric: f1
    budget: 0.05
"""


def _gated(tmp_path: Path) -> Path:
    """The golden run with the gate's verdict beside it, as `harness gate RUN --json RUN/gate.json` leaves it."""
    run_dir = tmp_path / "gated"
    shutil.copytree(GOLDEN_RUN, run_dir)
    (tmp_path / "rules.yaml").write_text(RULES)
    assert main(["gate", str(run_dir), "--rules", str(tmp_path / "rules.yaml"), "--json",
                 str(run_dir / "gate.json")]) in (0, 1)
    return run_dir


def test_report_shows_the_gate(tmp_path):
    """A run with a gate.json: a Gate section with every rule's PASS/FAIL and every check's line, in md and html;
    none without one, and none from the verdict on another run (a warning says why)."""
    from reports import html as html_report

    run_dir = _gated(tmp_path)
    verdict = json.loads((run_dir / "gate.json").read_text())
    report = data.load([run_dir])
    md, page = markdown.render(report, []), html_report.render(report, tmp_path, [])
    section = md.split("## Gate\n")[1].split("\n## ")[0]
    passed = sum(r["passed"] for r in verdict["rules"])
    assert f"{'PASS' if verdict['passed'] else 'FAIL'}, {passed} of {len(verdict['rules'])} rules passed" in section
    for rule in verdict["rules"]:
        for c in rule["checks"]:
            row = _line(section, f"| {markdown.esc(str(rule['index']) + '. ' + rule['name'])} | "
                                 f"{'PASS' if rule['passed'] else 'FAIL'} | {c['arm']} | {c['task']} / {c['metric']} |")
            assert row.endswith(f"| {'ok' if c['passed'] else 'FAIL'} | {markdown.esc(c['detail'], 1000)} |")
            assert html_report.e(c["detail"]) in page
    assert "inconclusive: n = 30 cannot show a drop smaller than 0.05" in section
    assert "<h2>Gate</h2>" in page and "data-table='gate-20260101-000000-golden'" in page
    assert "## Gate" not in markdown.render(data.load([GOLDEN_RUN]), [])
    assert "statistics contract" not in md  # judged under the contract the report computes
    stale = dict(verdict)
    del stale["statistics_version"]  # a gate.json written before the contract was recorded
    (run_dir / "gate.json").write_text(json.dumps(stale))
    md = markdown.render(data.load([run_dir]), [])
    assert "## Gate" in md and "under statistics contract unrecorded (before 5)" in md
    assert "harness gate gated --rules RULES --record" in md
    verdict["run_id"] = "another-run"
    (run_dir / "gate.json").write_text(json.dumps(verdict))
    md = markdown.render(data.load([run_dir]), [])
    assert "## Gate" not in md and "not a gate verdict on this run" in md


def regenerate() -> None:
    """Write the golden report.md and tables.tex from tests/data/golden_run (see the module's docstring)."""
    report = data.load([GOLDEN_RUN])
    (DATA / "golden" / "report.md").write_text(markdown.render(report, []))
    (DATA / "golden" / "tables.tex").write_text(latex.render(report))


if __name__ == "__main__":
    regenerate()

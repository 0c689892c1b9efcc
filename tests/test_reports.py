"""Reports from run directories: golden Markdown and LaTeX, LaTeX that compiles, HTML that renders in a real
browser without running model output, merged sweeps, no torch, blind rating sheets."""

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
from reports import blind, data, latex, markdown

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
    assert latex.render(merged) == latex.render(data.load([GOLDEN_RUN]))
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
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


@pytest.mark.parametrize("which", ["golden", "sweep-with-duplicate"])
def test_html_holds_every_table_and_number_of_the_markdown(which, tmp_path):
    from reports import html as html_report

    dirs = [GOLDEN_RUN] if which == "golden" else [GOLDEN_RUN, _split(tmp_path)[0]]
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
    assert "> **Warning:**" in md and "shown once" in md and "lora_r8@" not in md


def test_small_n_reads_n_too_small_everywhere(tmp_path):
    """perplexity in the golden run has 6 documents: no CI, no stars, no 'no significant change' anywhere."""
    report = data.load([GOLDEN_RUN])
    md = markdown.render(report, [])
    rows = [ln for ln in md.splitlines() if ln.startswith("| perplexity |")]
    assert rows and all("n too small: 6 &lt; 20" in ln and "[" not in ln.split("|")[7] for ln in rows)
    tex = latex.render(report)
    assert "n too small: 6 \\textless{} 20" in tex
    run = results.load_run(GOLDEN_RUN)
    assert {c["test"] for c in run["comparisons"] if c["task"] == "perplexity"} == {"n too small"}
    for c in run["comparisons"]:
        if c["test"] == "n too small":
            assert c["ci95"] is None and c["p_value"] is None and not c["significant"]
        else:  # CI and p-value agree everywhere else
            assert (c["p_value"] < 0.05) == (not c["ci95"][0] <= 0 <= c["ci95"][1]) == c["significant"], c


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

"""report.html and report.md as pages a reader uses: structure a screen reader can follow (lang, table captions, header
scopes, a labelled filter, alt text and figure captions, a table of contents whose links land), readable colours that
never carry a meaning alone, the Samples section (every document, base and adapters in one row, per-document
perplexity, links to the samples files that resolve from wherever the report was written), and the same text in both
media for every table cell. Every page here is rendered from the golden run's real files."""

from __future__ import annotations

import html as html_lib
import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_reports import _split  # the golden run as two runs of a sweep, one adapter each

from harness.cli.app import main
from reports import data, markdown, numbers, plots, samples
from reports import html as html_report

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"
ARMS = ("base", "lora_r8", "lora_r16")
TASKS = ("yelp", "docqa", "perplexity", "general_qa")


def _rows(run_dir: Path, arm: str, task: str) -> list[dict]:
    path = run_dir / "samples" / arm / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Page(HTMLParser):
    """The parts of report.html the tests read: each table (its key, caption, header cells with their scope, and
    rows of cell texts, where a folded cell's text is what it shows before unfolding), figures, ids, links, labels."""

    def __init__(self, page: str):
        super().__init__()
        self.tables, self.figures, self.ids, self.hrefs, self.labels, self.inputs = [], [], [], [], [], []
        self.lang, self._text, self._hidden = None, None, 0
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "table":
            self.tables.append({"key": a.get("data-table"), "caption": None, "header": [], "scopes": [], "rows": []})
        elif tag == "th":
            self.tables[-1]["scopes"].append(a.get("scope"))
            self._text = []
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("caption", "td", "figcaption", "label"):
            self._text = []
        elif tag == "div" and self._text is not None:
            self._hidden += 1  # the whole text of a folded cell, under the part it shows
        elif tag == "img":
            self.figures.append({"alt": a.get("alt")})
        elif tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        elif tag == "input":
            self.inputs.append(a.get("id"))
        if tag == "label":
            self.labels.append(a.get("for"))

    def handle_endtag(self, tag):
        text = " ".join("".join(self._text or []).split())
        if tag == "div" and self._hidden:
            self._hidden -= 1
        elif tag == "caption":
            self.tables[-1]["caption"] = text
        elif tag == "th":
            self.tables[-1]["header"].append(text)
        elif tag == "td":
            self._row.append(text)
        elif tag == "tr" and self._row:
            self.tables[-1]["rows"].append(self._row)
            self._row = []
        elif tag == "figcaption":
            self.figures[-1]["figcaption"] = text
        if tag in ("caption", "th", "td", "figcaption", "label"):
            self._text = None

    def handle_data(self, d):
        if self._text is not None and not self._hidden:
            self._text.append(d)

    def table(self, key: str) -> dict:
        return next(t for t in self.tables if t["key"] == key)

    def column(self, key: str, name: str, doc: str) -> str:
        t = self.table(key)
        row = next(r for r in t["rows"] if r[0] == doc)
        return row[t["header"].index(name)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The golden run's report, written to a folder of its own (not the run's), as `harness report --out` does."""
    out = tmp_path_factory.mktemp("elsewhere") / "report"
    assert main(["report", str(GOLDEN_RUN), "--out", str(out), "--format", "md,html,png"]) == 0
    return out


@pytest.fixture(scope="module")
def page(rendered) -> Page:
    return Page((rendered / "report.html").read_text())


def test_html_structure_for_screen_readers(rendered, page):
    report = data.load([GOLDEN_RUN])
    assert page.lang == "en"
    tables = [b.table for b in samples.page(report, []) if b.kind == "table"]
    assert [t for t in tables if t.caption] and len(tables) > 10
    for t in tables:  # every caption the document gives, on its table
        if t.caption:
            assert t.caption in page.table(t.key)["caption"], t.key
    assert all(scope == "col" for t in page.tables for scope in t["scopes"]) and page.tables[0]["scopes"]
    assert page.inputs == ["samples-filter"] and "samples-filter" in page.labels
    pngs = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", (rendered / "report.md").read_text(), re.M)
    assert len(pngs) >= 3 and len(page.figures) == len(pngs)
    for path, fig in zip(pngs, page.figures):
        assert fig["alt"] == fig["figcaption"] == plots.caption(report, path) != ""


def test_contents_links_land_on_every_section(rendered, page):
    text = (rendered / "report.html").read_text()
    toc = list(dict.fromkeys(h for h in page.hrefs if h.startswith("#")))  # (the legend links to #terms again)
    assert len(set(page.ids)) == len(page.ids), "ids are unique"
    assert toc and all(h[1:] in page.ids for h in toc)
    sections = re.findall(r"<section id='([^']+)'>\s*<h2>([^<]+)</h2>", text)
    assert [f"#{i}" for i, _ in sections] == toc
    assert [h for _, h in sections][-2:] == ["Plots", "Samples"]
    md = (rendered / "report.md").read_text()
    contents = next(ln for ln in md.splitlines() if ln.startswith("**Contents:** "))  # one line, as in the HTML
    assert re.findall(r"\[[^\]]+\]\((#[^)]+)\)", contents) == toc  # the same anchors in both media
    assert "#general_qa" in toc  # GitHub keeps underscores in anchors


def test_tones_are_readable_and_never_colour_alone(rendered, page):
    css = (rendered / "report.html").read_text().split("<style>")[1].split("</style>")[0]

    def luminance(hex_colour: str) -> float:
        c = [int(hex_colour[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    for tone in ("good", "bad"):
        colour = re.search(rf"\.{tone}\{{color:#([0-9A-Fa-f]{{6}})", css).group(1)
        assert 1.05 / (luminance(colour) + 0.05) >= 4.5, tone  # WCAG AA contrast on white
    assert all(float(px) >= 13 for px in re.findall(r"font-size:([\d.]+)px", css))
    md = (rendered / "report.md").read_text()
    toned = [c for t in page.tables for r in t["rows"] for c in r if c.startswith(("▲ ", "▼ "))]
    assert toned and all(markdown.esc(c, 10_000) in md for c in toned[:20])


def test_samples_hold_every_document_of_every_task(rendered, page):
    text = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", (rendered / "report.html").read_text())).split())
    md = (rendered / "report.md").read_text()
    for task in TASKS:
        docs = [str(r["doc_id"]) for r in _rows(GOLDEN_RUN, "base", task)]
        assert [r[0] for r in page.table(f"samples-{task}")["rows"]] == docs  # no cap
        assert f"showing {len(docs)} of {len(docs)} documents" in text
        assert f"showing {min(10, len(docs))} of {len(docs)} documents; all of them:" in md


def test_base_and_adapters_share_a_row(page):
    for task in ("yelp", "docqa", "general_qa"):
        rows = {arm: {str(r["doc_id"]): r for r in _rows(GOLDEN_RUN, arm, task)} for arm in ARMS}
        for doc in rows["base"]:
            for arm in ARMS:
                answer = rows[arm][doc]["response"].strip() or samples.EMPTY
                assert page.column(f"samples-{task}", f"{arm} answer", doc) == " ".join(answer.split())
    yelp = {str(r["doc_id"]): r for r in _rows(GOLDEN_RUN, "base", "yelp")}
    unreadable = next(d for d, r in yelp.items() if r["filtered"]["star"] is None)
    assert page.column("samples-yelp", "base parsed", unreadable) == f"unparseable ({yelp[unreadable]['filtered']['rule']})"
    readable = next(d for d, r in yelp.items() if r["filtered"]["star"] is not None)
    assert page.column("samples-yelp", "base parsed", readable) == str(yelp[readable]["filtered"]["star"])


def test_perplexity_rows_show_each_documents_perplexity(page):
    for arm in ARMS:
        for r in _rows(GOLDEN_RUN, arm, "perplexity"):
            loglikelihood, tokens = r["metrics"]["token_perplexity"]
            expected = numbers.value(math.exp(-loglikelihood / tokens))
            shown = page.column("samples-perplexity", f"{arm} token_perplexity", str(r["doc_id"]))
            assert shown.removeprefix("▲ ").removeprefix("▼ ") == expected
            assert page.column("samples-perplexity", "tokens", str(r["doc_id"])) == str(tokens)
    caption = page.table("samples-perplexity")["caption"]
    assert "exp(−log-likelihood / tokens)" in caption and "lower is better" in caption


def _jsonl_links(text: str, out: Path, pattern: str) -> list[Path]:
    return [(out / unquote(h)).resolve() for h in re.findall(pattern, text) if h.endswith(".jsonl")]


@pytest.mark.parametrize("merged", [False, True])
def test_links_to_the_samples_files_resolve_from_the_report_folder(tmp_path, merged):
    dirs = _split(tmp_path) if merged else [GOLDEN_RUN]
    out = tmp_path / "somewhere" / "else"
    assert main(["report", *map(str, dirs), "--out", str(out), "--format", "html"]) == 0
    report = data.load(dirs)
    folder = {"base": dirs[0], "lora_r8": dirs[0], "lora_r16": dirs[-1]}  # each arm's own run
    expected = {(folder[a] / "samples" / a / f"{t}.jsonl").resolve() for a in ARMS for t in TASKS}
    for text, pattern in ((html_report.render(report, out, []), r"href='([^']+)'"),
                          (markdown.render(report, [], out), r"\]\(([^)#]+)\)")):
        assert set(_jsonl_links(text, out, pattern)) == expected
    html_links = _jsonl_links((out / "report.html").read_text(), out, r"href='([^']+)'")
    assert set(html_links) == expected and all(p.is_file() for p in html_links)
    beside = markdown.render(report, [])  # without out_dir: report.md beside the first run, as without --out
    assert all(p.is_file() for p in _jsonl_links(beside, dirs[0], r"\]\(([^)#]+)\)"))


def _md_tables(md: str) -> list[list[list[str]]]:
    tables, current = [], None
    for line in md.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if set(line) <= set("|-: "):
            continue
        cells = [html_lib.unescape(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        cells = [c[2:-2] if c.startswith("**") and c.endswith("**") and len(c) > 4 else c for c in cells]
        if current is None:
            current = []
            tables.append(current)
        current.append(cells)
    return tables


def _edited(tmp_path: Path) -> Path:
    """The golden run with an empty answer and a prompt longer than a table cell used to hold."""
    run_dir = tmp_path / "edited"
    shutil.copytree(GOLDEN_RUN, run_dir)
    path = run_dir / "samples" / "lora_r8" / "docqa.jsonl"
    rows = _rows(run_dir, "lora_r8", "docqa")
    rows[0]["response"] = rows[0]["filtered"] = ""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for arm in ARMS:
        rows = _rows(run_dir, arm, "docqa")
        rows[1]["prompt"] = "Context: " + "a long line of documentation. " * 4 + "\nQuestion: " + "why? " * 30 + "\nAnswer:"
        (run_dir / "samples" / arm / "docqa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def test_markdown_and_html_show_the_same_text_in_every_cell(tmp_path):
    run_dir = _edited(tmp_path)
    report = data.load([run_dir])
    md, page = markdown.render(report, [], tmp_path), Page(html_report.render(report, tmp_path, []))
    md_tables = _md_tables(md)
    assert len(md_tables) == len(page.tables) > 10
    for rows, t in zip(md_tables, page.tables):
        assert rows[0] == t["header"], t["key"]
        body = rows[1:]
        assert len(body) == (min(samples.MD_ROWS, len(t["rows"])) if t["key"].startswith("samples-") else len(t["rows"]))
        assert body == t["rows"][: len(body)], t["key"]
        if t["caption"]:
            assert "*Table: " + markdown.esc(t["caption"], 4000).replace("*", "\\*") + "*" in md
    assert page.column("samples-docqa", "lora_r8 answer", "0") == samples.EMPTY
    assert f"| {samples.EMPTY} |" in md
    tail = page.column("samples-docqa", "prompt", "1")
    assert len(tail) > 160 and tail.endswith("why? Answer:") and f"| {markdown.esc(tail, 10_000)} |" in md

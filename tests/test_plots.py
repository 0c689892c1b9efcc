"""The report's plots, drawn with real matplotlib from the golden run: valid 300 dpi PNGs no wider than the HTML
report's column at 110 px an inch, no text under 9 pt (nor under 12 px once shown in that column), colours that mean better / worse / not significant in deltas.png (with a marker and
words beside each colour), confusion-matrix numbers that contrast with their cells, and a caption for every plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from reports import data, figstyle, notes, plots

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"
DISPLAY_PX = 1150  # the HTML report's column, where a wider image is shrunk to fit
SCREEN_PPI = 110  # px an inch the screen figures are sized for: three panels make the column
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _report() -> data.Report:
    """The golden run, with what it lacks to draw every kind of plot: a training log and a context-window sweep."""
    report = data.load([GOLDEN_RUN])
    adapter = next(a for a in report.arms if a.name == "lora_r8")
    adapter.training_log = [{"step": s, "loss": 2 / (1 + s / 10), "eval_loss": 2 / (1 + s / 10) if s % 20 == 0 else None,
                             "grad_norm": 1 + 0.1 * (s % 7), "learning_rate": 1e-4 * (1 - s / 100)}
                            for s in range(0, 100, 5)]
    sweep = [{"task": f"perplexity_ctx{ctx}", "metric": "token_perplexity", "arm": arm, "value": v * (1 + 64 / ctx),
              "higher_is_better": False}
             for ctx in (128, 256, 512, 1024) for arm, v in (("base", 20.0), ("lora_r8", 17.0), ("lora_r16", 16.0))]
    report.scores = pd.concat([report.scores, pd.DataFrame(sweep)], ignore_index=True)
    return report


def _capture(monkeypatch) -> dict:
    """name -> figure, for every figure the plots save; the files are still written."""
    figures, save = {}, plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, out, name, formats: figures.setdefault(name, fig) and
                        save(fig, out, name, formats))
    return figures


def _contrast(a, b) -> float:
    """WCAG contrast ratio of two colours."""
    def lum(c):
        lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in to_rgb(c)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.slow  # over 10 s on the 2-core CPU: runs in CI, not in -m 'not slow'
def test_every_plot_is_a_readable_png(tmp_path, monkeypatch):
    """Every plot kind is written as a valid PNG (and a PDF), no wider than the report's column at SCREEN_PPI, and
    no text in it is under 9 pt, nor under 12 px once the report's column has scaled the 300 dpi image down."""
    from PIL import Image

    figures = _capture(monkeypatch)
    written = plots.render_all(_report(), tmp_path, {"png", "pdf"})
    assert set(figures) == {"scores", "deltas", "yelp_confusion", "perplexity_context", "training_lora_r8"}
    for name, fig in figures.items():
        png = tmp_path / "plots" / f"{name}.png"
        assert f"plots/{name}.png" in written and f"plots/{name}.pdf" in written
        assert png.read_bytes()[:8] == PNG_SIGNATURE and (tmp_path / "plots" / f"{name}.pdf").stat().st_size > 1000
        with Image.open(png) as image:
            image.verify()
            width = image.size[0]
        assert width / plots.DPI * SCREEN_PPI <= 1.1 * DISPLAY_PX, (name, width)
        scale = min(1.0, DISPLAY_PX / width)
        texts = [t for t in fig.findobj(Text) if t.get_text().strip()]
        assert texts, name
        for t in texts:
            assert t.get_fontsize() >= 9, (name, t.get_text(), t.get_fontsize())
            assert t.get_fontsize() * plots.DPI / 72 * scale >= 12, (name, t.get_text())


def _mark(report: data.Report, task: str, metric: str, arm: str) -> None:
    c = report.comparisons
    c.loc[(c.task == task) & (c.metric == metric) & (c.arm == arm), "significant"] = True


def test_deltas_colour_follows_direction_and_significance():
    """Green ▲ for a significant change the good way (lower is better for unparseable_rate), vermillion ▼ the bad
    way, grey n.s. otherwise, each with its words beside it; 'n too small' stays a hollow point without an interval;
    the suptitle says what colours and markers mean and names the adjustment."""
    report = data.load([GOLDEN_RUN])
    _mark(report, "yelp", "accuracy", "lora_r8")  # +0.35, higher is better
    _mark(report, "yelp", "unparseable_rate", "lora_r16")  # −0.175, lower is better
    _mark(report, "general_qa", "exact_match", "lora_r8")  # −0.10, higher is better
    (fig,) = plots.figures(report, figstyle.SCREEN, {"deltas"}).values()  # drawn as render_all draws it, not saved
    green, red, grey = plots.PALETTE["better"], plots.PALETTE["worse"], plots.PALETTE["neutral"]
    seen = {}
    for ax in fig.axes:
        intervals = [ln for ln in ax.get_lines() if ln.get_linewidth() == 2]
        points = [ln for ln in ax.get_lines() if ln.get_marker() not in ("None", "", None)]
        seen[ax.get_title()] = ([ln.get_color() for ln in intervals], [ln.get_marker() for ln in points],
                                [t.get_text() for t in ax.texts], [t.get_color() for t in ax.texts])
    assert seen["yelp: accuracy ↑"] == ([green, grey], ["^", "o"], ["▲ better", "n.s."], [green, grey])
    assert seen["yelp: unparseable_rate ↓"] == ([grey, green], ["o", "^"], ["n.s.", "▲ better"], [grey, green])
    assert seen["general_qa: exact_match ↑"] == ([red, grey], ["v", "o"], ["▼ worse", "n.s."], [red, grey])
    assert seen["general_qa: f1 ↑"][0] == [grey, grey]
    intervals, markers, words, _ = seen["perplexity: token_perplexity ↓"]
    assert intervals == [] and markers == ["o", "o"] and words == ["n too small", "n too small"]
    (perplexity,) = [ax for ax in fig.axes if ax.get_title() == "perplexity: token_perplexity ↓"]
    assert all(ln.get_markerfacecolor() == "none" for ln in perplexity.get_lines() if ln.get_marker() == "o")
    title = fig._suptitle.get_text()
    assert "green ▲" in title and "vermillion ▼" in title and "n.s." in title
    assert f"after {notes.adjustment(report)} over {notes.family_words(report)}" in title


def test_confusion_numbers_contrast_with_their_cells(tmp_path, monkeypatch):
    """Each count is white on a dark cell and black on a light one: at least WCAG's 4.5:1 either way."""
    figures = _capture(monkeypatch)
    plots.confusion(data.load([GOLDEN_RUN]), tmp_path, {"png"})
    colours = set()
    for ax in figures["yelp_confusion"].axes:
        (image,) = ax.get_images()
        counts = image.get_array()
        assert len(ax.texts) == counts.size
        for t in ax.texts:
            x, y = t.get_position()
            cell = image.cmap(image.norm(counts[int(y), int(x)]))
            assert _contrast(t.get_color(), cell) >= 4.5, (ax.get_title(), t.get_text(), t.get_color())
            colours.add(t.get_color())
        assert all(label.get_fontsize() >= 9 for label in ax.get_xticklabels() + ax.get_yticklabels())
    assert colours == {"white", "black"}


@pytest.mark.slow  # every plot at three sizes (tests/test_plots_print.py): over 10 s on the 2-core CPU
@pytest.mark.parametrize("formats", [{"png"}, {"pdf"}])
def test_every_plot_has_a_caption(tmp_path, formats):
    """A sentence or two for every path render_all returns; the deltas caption names the adjustment and its
    family, and the ones that tell arms apart name each arm with its colour."""
    report = _report()
    written = plots.render_all(report, tmp_path, formats)
    assert len(written) == 5
    for path in written:
        text = plots.caption(report, path)
        assert len(text) > 60 and text[0].isupper() and text.endswith("."), (path, text)
        assert "plots/" not in text
    deltas = plots.caption(report, next(p for p in written if "deltas" in p))
    assert notes.adjustment(report) in deltas and notes.family_words(report) in deltas
    assert "Green ▲" in deltas and "▼" in deltas and "not significant" in deltas
    scores = plots.caption(report, next(p for p in written if "scores" in p))
    assert "base dark grey, lora_r8 blue, lora_r16 orange" in scores
    assert "lora_r8" in plots.caption(report, next(p for p in written if "training_" in p))

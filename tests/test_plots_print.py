"""The plots ready for a paper, checked with real matplotlib on the files written: every plot also at one column
(3.3 in) and two columns (6.9 in) of a two-column paper, measured from the saved PDF's MediaBox and the PNG's pixels;
PNGs at 300 dpi; PDFs with TrueType fonts, never Type 3 (pdffonts); no text under 8 pt at the printed size and none
outside the figure; arms told apart without colour (greyscale); whole-number steps on the sweep's axis."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path

import matplotlib
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from PIL import Image
from test_plots import _report
from test_sweep import _sweep_run

from reports import data, figstyle, plots

WIDTHS = {"": None, "-1col": 3.3, "-2col": 6.9}  # inches, by file-name suffix (None: the screen one, any width)
GREY_STEP = 0.15  # the least greyscale difference (0-1) that tells two arms' colours apart in print


def _pdffonts() -> str | None:
    found = shutil.which("pdffonts")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("pdffonts (poppler-utils) is missing on CI")
    return found


def _mediabox(pdf: Path) -> tuple[float, float]:
    """The page's width and height in inches."""
    (box,) = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf.read_bytes())
    return float(box[0]) / 72, float(box[1]) / 72


def _suffix(path: Path) -> str:
    return next((s for s in ("-1col", "-2col") if path.stem.endswith(s)), "")


def _check_files(folder: Path, names: set[str]) -> None:
    """Every plot in `names` at every size and in both formats: its size, resolution and fonts."""
    files = sorted(folder.iterdir())
    assert {p.name for p in files} == {f"{n}{s}.{e}" for n in names for s in WIDTHS for e in ("png", "pdf")}
    pdffonts = _pdffonts()
    for pdf in (p for p in files if p.suffix == ".pdf"):
        width, height = _mediabox(pdf)
        want = WIDTHS[_suffix(pdf)]
        assert want is None or abs(width - want) <= 0.05, (pdf.name, width)
        # a print figure fits a column of a 10 pt article (about 7.6 in) with room for its caption
        assert want is None or height <= figstyle.MAX_HEIGHT + 0.05, (pdf.name, height)
        with Image.open(pdf.with_suffix(".png")) as png:
            dpi, pixels = png.info["dpi"], png.size
        assert min(dpi) >= 299.5, (pdf.name, dpi)  # the pHYs chunk says 300 dpi ...
        # ... and the pixels are the PDF's inches at 300 dpi: the same figure, at the size it was laid out at.
        assert abs(pixels[0] - width * 300) <= 1 and abs(pixels[1] - height * 300) <= 1, (pdf.name, pixels)
        if pdffonts:
            listing = subprocess.run([pdffonts, str(pdf)], capture_output=True, text=True, check=True).stdout
            assert "Type 3" not in listing and "TrueType" in listing, (pdf.name, listing)
    if not pdffonts:
        pytest.skip("pdffonts (poppler-utils) is not installed: fonts not checked")


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory) -> data.Report:
    """Three checkpoints at steps 1, 2, 3: an axis where matplotlib would put ticks at 1.25, 1.5 ..."""
    return data.load([_sweep_run(tmp_path_factory.mktemp("sweep"), {1: 0.3, 2: 0.5, 3: 0.6})])


def test_print_sizes_resolution_and_fonts_of_the_files(tmp_path, sweep_report):
    """The sweep (quick to draw; every plot in the slow test below) in both formats: the screen one, -1col, -2col."""
    default_font_type = matplotlib.rcParams["pdf.fonttype"]
    written = plots.checkpoints(sweep_report, tmp_path / "plots", {"png", "pdf"})
    # render_all's contract: the screen files only, the ones the reports embed; print_files() names the rest.
    assert written == ["plots/sweep.png", "plots/sweep.pdf"]
    assert plots.print_files(written) == ["plots/sweep-1col.png", "plots/sweep-2col.png", "plots/sweep-1col.pdf",
                                          "plots/sweep-2col.pdf"]
    assert plots.caption(sweep_report, "plots/sweep-2col.pdf") == plots.caption(sweep_report, written[0])
    _check_files(tmp_path / "plots", {"sweep"})
    assert matplotlib.rcParams["pdf.fonttype"] == default_font_type  # the styles did not leak


@pytest.mark.slow  # every plot of a report with every kind, three sizes, two formats: over 10 s on the 2-core CPU
def test_every_plot_is_written_at_every_size(tmp_path, sweep_report):
    report = _report()
    written = plots.render_all(report, tmp_path, {"png", "pdf"})
    names = {Path(p).stem for p in written}
    assert names == {"scores", "deltas", "yelp_confusion", "perplexity_context", "training_lora_r8"}
    assert not any(_suffix(Path(p)) for p in written)  # what the reports embed: the screen files only
    _check_files(tmp_path / "plots", names)


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _check_layout(name: str, fig, least_pt: float) -> None:
    """No text under `least_pt` at the figure's size, and everything drawn inside the figure (nothing clipped)."""
    assert _texts(fig), name
    for t in _texts(fig):
        assert t.get_fontsize() >= least_pt, (name, t.get_text(), t.get_fontsize())
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    assert box.x0 >= -0.02 and box.y0 >= -0.02 and box.x1 <= width + 0.02 and box.y1 <= height + 0.02, (name, box)


def test_print_text_is_at_least_8_pt_and_inside_the_figure(sweep_report):
    """The quick plots here; the many-panelled scores and deltas in the slow test below."""
    report = _report()
    for size in figstyle.PRINT:
        drawn = {**plots.figures(report, size, {"yelp_confusion", "perplexity_context", "training_lora_r8"}),
                 **plots.figures(sweep_report, size, {"sweep"})}
        assert len(drawn) == 4
        for name, fig in drawn.items():
            assert abs(fig.get_size_inches()[0] - size.width) < 1e-9, name
            _check_layout(name, fig, 8)
            assert fig._suptitle is None, name  # in print the paper's caption says it
            figstyle.pyplot().close(fig)


@pytest.mark.slow  # the report with every kind of plot, drawn at three sizes: over 10 s on the 2-core CPU
def test_every_kind_of_plot_fits_at_every_size():
    report = _report()
    for size, least in ((figstyle.SCREEN, 9), (figstyle.ONE_COLUMN, 8), (figstyle.TWO_COLUMN, 8)):
        drawn = plots.figures(report, size)
        assert len(drawn) == 5
        for name, fig in drawn.items():
            _check_layout(name, fig, least)
            if size.width:
                assert abs(fig.get_size_inches()[0] - size.width) < 1e-9 and fig._suptitle is None, name
            figstyle.pyplot().close(fig)


def _grey(colour) -> float:
    """The colour printed in greyscale (ITU-R 601 luma, as PIL's convert('L')), 0 black to 1 white."""
    r, g, b = to_rgb(colour)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _apart(a: tuple, b: tuple) -> bool:
    """Two arms' (colour, marks...) tell apart in greyscale: by their grey, or by a mark (marker, line, hatch)."""
    return abs(_grey(a[0]) - _grey(b[0])) >= GREY_STEP or a[1:] != b[1:]


def test_arms_stay_apart_in_greyscale():
    """The figures' own artists: each arm's line (perplexity vs context) and bar (scores) differs from every other
    arm's in grey or in marker, line style or hatch; and so does every pair of the style table's first six arms,
    though orange, pink and sky blue print as almost the same grey."""
    report = _report()
    arms = ["base", *report.adapters]
    for size in (figstyle.SCREEN, *figstyle.PRINT):
        (fig,) = plots.figures(report, size, {"perplexity_context"}).values()
        lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
        look = {a: (lines[a].get_color(), lines[a].get_marker(), lines[a].get_linestyle()) for a in arms}
        assert all(_apart(look[a], look[b]) for a, b in combinations(arms, 2)), (size.suffix, look)
        figstyle.pyplot().close(fig)
    # The scores' bars at one size (the same code draws every size; its many panels take a while).
    (fig,) = plots.figures(report, figstyle.ONE_COLUMN, {"scores"}).values()
    for ax in (ax for ax in fig.axes if ax.axison):  # not a grid's empty slot
        look = {a: (bar.get_facecolor(), bar.get_hatch() or "") for a, bar in zip(arms, ax.patches)}
        assert len(look) == len(arms) and all(_apart(look[a], look[b]) for a, b in combinations(arms, 2)), look
    figstyle.pyplot().close(fig)
    six = figstyle.arm_styles([f"arm{i}" for i in range(6)])
    assert all(_apart((s.colour, s.marker, s.line, s.hatch), (t.colour, t.marker, t.line, t.hatch))
               and (s.marker, s.line, s.hatch) != (t.marker, t.line, t.hatch) for s, t in combinations(six.values(), 2))
    greys = sorted(_grey(c) for c in figstyle.PALETTE["arms"][1:4])
    assert greys[-1] - greys[0] < GREY_STEP  # why the marks are needed


def test_sweep_steps_are_whole_numbers(sweep_report):
    for size in (figstyle.SCREEN, *figstyle.PRINT):
        fig = plots.figures(sweep_report, size, {"sweep"})["sweep" + size.suffix]
        ax = fig.axes[0]
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (size.suffix, ticks)
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels and all(label.lstrip("−-").isdigit() for label in labels), labels
        figstyle.pyplot().close(fig)

"""The plots' visual language and sizes (reports/plots.py draws with them): one colour-blind-safe palette, a marker,
line style and hatch per arm as well as a colour (so that arms stay apart printed in greyscale), the three sizes
every plot is drawn at (the screen one, a paper's one column and its two columns) with their text sizes, and the
one place figures are saved: 300 dpi, TrueType (Type 42) fonts in PDFs, never a size changed after layout."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

# Okabe-Ito, which stays distinguishable with every common colour-vision deficiency. The arms get the hues that
# are not better/worse, so an arm's colour never reads as a verdict. The greys are dark enough for text on white.
PALETTE = {
    "better": "#009E73",  # bluish green
    "worse": "#D55E00",  # vermillion
    "neutral": "#767676",
    "base": "#333333",
    "arms": ("#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442"),
}
COLOUR_WORDS = {"#333333": "dark grey", "#0072B2": "blue", "#E69F00": "orange", "#CC79A7": "pink",
                "#56B4E9": "sky blue", "#F0E442": "yellow"}
# Orange, pink and sky blue are within 12 of 255 of each other in greyscale: each arm (the base first) also gets
# its own marker, line style and bar hatch, which tell six arms apart without colour (then they repeat, offset).
MARKERS = ("o", "s", "^", "D", "v", "P")
LINES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
HATCHES = ("", "//", "\\\\", "xx", "..", "++")
# The deltas plot never relies on colour alone: each verdict has its marker and its words.
MARKS = {"better": ("^", "▲ better"), "worse": ("v", "▼ worse"), "neutral": ("o", "n.s.")}
DPI = 300  # every PNG; a screen figure is shown scaled to the HTML report's column, print ones at their size
PANEL = 3.5  # inches: a screen panel; three a row make a figure as wide as the report's column at 110 px an inch
RC = {"pdf.fonttype": 42, "ps.fonttype": 42}  # TrueType fonts embedded, never Type 3 (journals refuse those)


@dataclass(frozen=True)
class ArmStyle:
    colour: str
    marker: str
    line: object  # a matplotlib line style
    hatch: str


def arm_styles(arms: list[str]) -> dict[str, ArmStyle]:
    """Each arm's style (`arms`: the base first), the same in every plot that tells the arms apart."""
    n = len(MARKERS)
    return {a: ArmStyle(PALETTE["base"] if i == 0 else PALETTE["arms"][(i - 1) % len(PALETTE["arms"])],
                        MARKERS[i % n], LINES[(i + i // n) % n], HATCHES[(i + i // n) % n])
            for i, a in enumerate(arms)}


@dataclass(frozen=True)
class Size:
    """A size every plot is drawn at: `suffix` goes after the plot's name in its file name."""
    suffix: str
    width: float | None  # inches; None: PANEL a column
    cols: int  # the most panels a row
    small: float  # pt: annotations, legends
    text: float  # pt: ticks, axis labels, panel titles
    title: float  # pt: the figure's title, drawn on screen only (in print the paper's caption says it)

    @property
    def titled(self) -> bool:
        return self.width is None

    def panel(self, cols: int) -> float:
        """A panel's width in inches, in a row of `cols`."""
        return PANEL if self.width is None else self.width / cols

    def shrink(self, width: float, full: float) -> float:
        """How much shorter a figure is drawn than on screen, for a panel `width` wide where the screen's is `full`:
        in step with the width, but never so short that the text (which does not shrink) fills it."""
        return min(1.0, max(0.7, width / full))

    def grid(self, n: int, height: float):
        """n panels, at most `cols` a row; `height`: a row's height on screen (inches)."""
        plt = pyplot()
        cols = min(self.cols, n)
        rows = -(-n // cols)
        w = self.panel(cols)
        # Constrained layout makes room for the suptitle, which tight_layout lets overlap the top row's titles.
        tall = height * self.shrink(w, PANEL) * rows
        # in print a figure must fit a page with its caption: rows get shorter (never below 1.25 in) past MAX_HEIGHT
        if self.width is not None and tall > MAX_HEIGHT:
            tall = max(MAX_HEIGHT, 1.25 * rows)
        fig, axes = plt.subplots(rows, cols, figsize=(w * cols, tall), squeeze=False, layout="constrained")
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        return fig, list(axes.flat)[:n]

    def subplots(self, width: float, height: float, rows: int = 1, cols: int = 1):
        """A figure of rows x cols axes, `width` x `height` inches on screen, the size's width in print."""
        w = self.across(width)
        return pyplot().subplots(rows, cols, figsize=(w, height * self.shrink(w, width)), layout="constrained")

    def across(self, width: float) -> float:
        """The width of a figure `width` inches wide on screen, in inches."""
        return width if self.width is None else self.width

    def wrap(self, text: str, fontsize: float, inches: float) -> str:
        """`text` broken into lines that fit a panel `inches` wide at `fontsize`: DejaVu Sans averages under 0.62 em
        a glyph, and the axes (which a title is centred on) take about 85% of the panel beside its tick labels."""
        chars = max(12, int(0.85 * inches * 72 / (0.62 * fontsize)))
        return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))

    def steps(self, inches: float):
        """Whole-number ticks (training steps) on an axis `inches` long, at most one per 6 em of tick text, at
        round steps (1, 2 or 5 times a power of ten)."""
        return pyplot().MaxNLocator(nbins=max(3, int(inches * 72 / (6 * self.text))), integer=True, steps=[1, 2, 5, 10])


SCREEN = Size("", None, 3, 9, 10, 11)
MAX_HEIGHT = 6.5  # inches: a column of a 10 pt article is about 7.6 in tall, and the caption needs the rest
ONE_COLUMN = Size("-1col", 3.3, 2, 8, 8, 9)
TWO_COLUMN = Size("-2col", 6.9, 3, 8, 8, 9)
PRINT = (ONE_COLUMN, TWO_COLUMN)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rc_context(params: dict):
    import matplotlib

    return matplotlib.rc_context(params)


def style(size: Size):
    """The rcParams a figure at `size` is drawn and saved under (a context: nothing leaks into the caller's)."""
    return rc_context({**RC, "font.size": size.text, "legend.fontsize": size.small,
                                  "axes.titlesize": size.text, "figure.titlesize": size.title})


def save(fig, out: Path, name: str, formats) -> list[str]:
    """`fig` as out/<name>.png and .pdf (those of `formats`), at the size it was drawn (no bbox trimming), then
    closed; the paths written, relative to the report's folder."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "pdf"):
        if ext in formats:
            with rc_context(RC):  # the font type is read when saving
                fig.savefig(out / f"{name}.{ext}", dpi=DPI,
                            metadata={"CreationDate": None} if ext == "pdf" else None)
            written.append(f"plots/{name}.{ext}")
            fig.set_layout_engine("none")  # laid out once: the next format keeps those positions (a third faster)
    pyplot().close(fig)
    return written


def luminance(rgba) -> float:
    """WCAG relative luminance of a colour."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

"""What `harness report` writes, shared by the CLI and the demo: every input checked, then Markdown, LaTeX, HTML,
plots and model cards written atomically. Reads run directories only; never imports torch."""

from __future__ import annotations

from pathlib import Path

from harness.core import comparisons, results
from harness.core.errors import HarnessError
from harness.core.paths import refuse_inside_inputs, require_dir, same_or_inside
from reports import card_meta, cards, data, html, latex, markdown, paper, plots


def _check_out(run_dirs: list[Path], out: Path | None) -> None:
    # A folder holding a run not in this report would get that run's report.md replaced by an unrelated one.
    if out and (out / results.RUN_FILE).exists() and not any(same_or_inside(out, d) and same_or_inside(d, out)
                                                              for d in run_dirs):
        raise HarnessError(f"--out {out}: holds another run ({out / results.RUN_FILE}), whose report this would "
                           "replace; choose another --out, or include that run in the report")
    require_dir(out or run_dirs[0], "--out")


def _load(run_dirs: list[Path], out: Path, resamples: int | None, multiplicity: str | None) -> data.Report:
    loaded = [(d, results.load_run(d)) for d in run_dirs]
    for d, run in loaded:  # every run and samples file checked before anything is written
        refuse_inside_inputs(out, "--out", run)
        if same_or_inside(out, d) and not same_or_inside(d, out):  # RUN/samples: the report among the run's files
            raise HarnessError(f"--out {out}: is inside the run directory {d}, an input that is never written to "
                               "(the report goes into the run directory itself, or outside it); choose another place")
        data.check_samples(d, run)
    for d, run in loaded:
        comparisons.current(run, d, multiplicity, resamples)
    return data.load(run_dirs, [run for _, run in loaded])


def write_report(run_dirs: list[Path], out: Path | None, formats: set[str],
                 resamples: int | None = None, multiplicity: str | None = None, base_model_id: str | None = None,
                 card_license: str | None = None, paper_metrics: str | None = None,
                 paper_ci: str = "pm") -> tuple[Path, list[str], data.Report]:
    """Check the runs and `out` (default: the first run directory), then write `formats` (of md, html, tex, png,
    pdf, card: a Hub model card per adapter, cards/<arm>/README.md, whose base_model is `base_model_id` for a local
    base and license `card_license`; tex: tables.tex, whose paper table shows `paper_metrics` "task/metric,..." with
    `paper_ci` pm | ci | none, and tables-full.tex) there; return the folder, the files written (relative to it) and
    the report they render. HarnessError before any write."""
    _check_out(run_dirs, out)
    out = out or run_dirs[0]
    report = _load(run_dirs, out, resamples, multiplicity)
    if "card" in formats:
        card_meta.check(report, base_model_id, card_license)
    if "tex" in formats:
        paper.choose(report, paper_metrics)  # a metric the run lacks stops the report before anything is written
    out.mkdir(parents=True, exist_ok=True)
    written = plots.render_all(report, out, formats & {"png", "pdf"}) if formats & {"png", "pdf"} else []
    if "md" in formats:
        results.atomic_write_text(out / "report.md", markdown.render(report, written, out))
        written.append("report.md")
    if "tex" in formats:
        results.atomic_write_text(out / "tables.tex", latex.render(report, paper_metrics, paper_ci))
        results.atomic_write_text(out / "tables-full.tex", latex.render_full(report))
        written += ["tables.tex", "tables-full.tex"]
    if "html" in formats:
        results.atomic_write_text(out / "report.html", html.render(report, out, written))
        written.append("report.html")
    if "card" in formats:
        written += cards.write_all(report, out, base_model_id, card_license)
    # the print sizes of every plot, written beside the screen ones (which alone the reports embed)
    written += [f for f in plots.print_files([w for w in written if w.startswith("plots/")]) if (out / f).is_file()]
    return out, written, report

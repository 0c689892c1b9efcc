"""`harness report` and `harness blind`: read run directories only; never import torch."""

from __future__ import annotations

import json
import sys

from harness.core.errors import HarnessError
from harness.core.paths import user_path

FORMATS = {"md", "html", "tex", "png", "pdf", "card"}


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="Markdown, HTML, LaTeX and plots from run directories (no model needed)",
                       description="Render report.md, report.html, tables.tex, plots/ and cards/ from one or more run "
                                   "directories (several merge into one set of tables when they share the base).")
    p.add_argument("runs", nargs="+", type=user_path, metavar="RUN_DIR")
    p.add_argument("--format", default="md,html,tex,png,pdf,card",
                   help="comma-separated: md, html, tex, png, pdf, card (cards/<arm>/README.md, a Hugging Face Hub "
                        "model card per adapter)")
    p.add_argument("--out", type=user_path, help="output folder (default: the first run directory)")
    p.add_argument("--resamples", type=int,
                   help="resamples when a run's comparisons must be recomputed (a run written under older statistics; "
                        "default: as the run recorded, else 1000)")
    p.add_argument("--multiplicity", choices=("holm", "bh"),
                   help="recompute the stars with this adjustment: holm (family-wise error) or bh (false discovery "
                        "rate); default: as the run recorded")
    p.add_argument("--base-model-id", metavar="OWNER/NAME",
                   help="the Hub id of a base the run loaded from a local folder, for the model cards' base_model "
                        "(default: the Hub id the run loaded, else the one the adapter's config records; none known: "
                        "the card names the local model and leaves base_model out)")
    p.add_argument("--license", metavar="ID",
                   help="the adapters' license for the model cards, a Hub license id such as apache-2.0 (default: the "
                        "one the adapter's own README.md gives; none: left out)")
    p.add_argument("--paper-metrics", metavar="TASK/METRIC,...",
                   help="the paper table's columns in tables.tex, e.g. yelp/f1_macro,general_qa/exact_match (default: "
                        "each task's primary metric; every metric is in tables-full.tex)")
    p.add_argument("--paper-ci", choices=("pm", "ci", "none"),
                   help="what the paper table prints beside each score: pm (± the half-width of its 95%% CI, the "
                        "default), ci ([low, high]) or none")
    p.set_defaults(func=_cmd_report)
    b = sub.add_parser("blind", help="blind A/B rating sheets: export, then score the filled-in sheet")
    bs = b.add_subparsers(dest="blind_command", metavar="ACTION", required=True)
    ex = bs.add_parser("export", help="write sheet.csv, sheet.html and key.json")
    ex.add_argument("run", type=user_path, metavar="RUN_DIR")
    ex.add_argument("--task", required=True)
    ex.add_argument("--n", type=int, default=50, help="items (default 50)")
    ex.add_argument("--arm", help="adapter arm (default: the first)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", type=user_path, help="folder (default RUN_DIR/blind-<task>)")
    ex.add_argument("--force", action="store_true", help="replace a sheet already in --out (its ratings are lost)")
    sc = bs.add_parser("score", help="win / tie / loss of the adapter from a filled-in sheet")
    sc.add_argument("sheet", type=user_path)
    sc.add_argument("key", type=user_path)
    sc.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_blind)


def _cmd_report(a) -> int:
    import time

    t0 = time.perf_counter()
    formats = {f.strip() for f in a.format.split(",") if f.strip()}
    unknown = formats - FORMATS
    if unknown:
        raise HarnessError(f"--format: unknown {', '.join(sorted(unknown))}; choose from {', '.join(sorted(FORMATS))}")
    if not formats:  # an empty value (an unset variable?) would write nothing and call it success
        raise HarnessError(f"--format {a.format!r}: names no format; choose from {', '.join(sorted(FORMATS))}")
    if a.resamples is not None and a.resamples < 1:
        raise HarnessError(f"--resamples {a.resamples}: must be >= 1")
    for flag, value, needs in (("--base-model-id", a.base_model_id, "card"), ("--license", a.license, "card"),
                               ("--paper-metrics", a.paper_metrics, "tex"), ("--paper-ci", a.paper_ci, "tex")):
        if value is not None and needs not in formats:
            raise HarnessError(f"{flag} {value}: only {'the model cards' if needs == 'card' else 'tables.tex'} use it, "
                               f"and --format {a.format} writes none; add {needs} to --format, or leave it out")
    from reports.write import write_report

    out, written, _ = write_report(a.runs, a.out, formats, resamples=a.resamples, multiplicity=a.multiplicity,
                                   base_model_id=a.base_model_id, card_license=a.license,
                                   paper_metrics=a.paper_metrics, paper_ci=a.paper_ci or "pm")
    print(f"wrote {len(written)} file{'' if len(written) == 1 else 's'} to {out} in {time.perf_counter() - t0:.1f}s: {', '.join(written)}", file=sys.stderr)
    return 0


def _cmd_blind(a) -> int:
    from reports import blind

    if a.blind_command == "export":
        from harness.core import results
        from harness.core.paths import refuse_inside_inputs

        out = a.out or a.run / f"blind-{a.task}"
        refuse_inside_inputs(out, "--out", results.load_run(a.run))
        existing = [out / f for f in ("sheet.csv", "key.json") if (out / f).exists()]
        if existing and not a.force:
            raise HarnessError(f"--out {out}: already holds a rating sheet ({existing[0].name}), perhaps with raters' "
                               "answers; choose another --out, or pass --force to replace it")
        files = blind.export(a.run, a.task, a.n, out, arm=a.arm, seed=a.seed)
        print(f"rating sheet: {files[0]} (and {files[1].name}); key: {files[2]} (keep it from the raters)")
        return 0
    res = blind.score(a.sheet, a.key)
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        line = f"{res['adapter']} vs base on {res['task']}: {res['wins']} wins, {res['ties']} ties, {res['losses']} losses"
        if "win_rate" in res:
            lo, hi = res["win_rate_ci95"]
            line += f"; win rate {res['win_rate']:.3f} [{lo:.3f}, {hi:.3f}] among decisive items, p = {res['p_value']:.4g}"
        print(line)
    return 0


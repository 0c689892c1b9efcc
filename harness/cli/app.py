"""`harness` command line: parse, build a typed config, call, map errors to exit codes. Nothing heavy at import.

The exit-code contract, enforced here and nowhere else:
  0  success, or every gate rule passed
  1  a gate rule failed (and nothing else)
  2  bad input or environment: one `error:` line saying what, where and how to fix it
  3  an internal error (a bug): one line; the traceback only with --debug or HARNESS_DEBUG=1
  130 interrupted (Ctrl-C); rerunning the same command resumes
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys

from harness import __version__
from harness.cli import demo as cli_demo
from harness.cli import models as cli_models
from harness.cli import run as cli_run
from harness.cli import train as cli_train
from harness.cli.run import EXAMPLE
from harness.core.errors import HarnessError, first_line


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) that name close matches of a mistyped flag, and no abbreviations
    (`--epoch` is a typo of `--epochs`, not a flag: a prefix that silently works today breaks when a flag is added)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        prog = self.prog
        if message.startswith("unrecognized arguments:"):
            # argparse reports a subcommand's unknown flag from the top parser: hints and help come from the command
            # the user typed, not from every command's flags.
            chain = _chosen(self, getattr(self, "argv", None))
            prog = chain[-1].prog
            message += _flag_hints(chain, message.split(":", 1)[1].split())
        self.exit(2, f"error: {prog}: {message} (see {prog} --help)\n")


def _subcommands(parser: argparse.ArgumentParser) -> dict:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def _chosen(parser: argparse.ArgumentParser, argv: list[str] | None) -> list[argparse.ArgumentParser]:
    """The parsers the command line went through: harness, then e.g. registry, then runs."""
    chain = [parser]
    for token in argv or []:
        sub = _subcommands(chain[-1]).get(token)
        if sub is not None:
            chain.append(sub)
    return chain


def _own_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings]


def _flag_hints(chain: list[argparse.ArgumentParser], tokens: list[str]) -> str:
    flags = sorted(set(_own_flags(chain[-1])))
    hints = []
    for t in tokens:
        if not t.startswith("-"):
            continue
        flag = t.split("=")[0]
        owner = next((p for p in reversed(chain[:-1]) if flag in _own_flags(p) and flag not in ("-h", "--help")), None)
        if owner is not None and flag not in flags:
            hints.append(f"{flag} belongs to `{owner.prog}`: give it before the action (`{owner.prog} {flag} ... "
                         f"{chain[chain.index(owner) + 1].prog.rsplit(' ', 1)[-1]} ...`)")
            continue
        close = difflib.get_close_matches(flag, flags, n=1, cutoff=0.6)
        if close:
            hints.append(f"{t}: did you mean {close[0]}?")
    return ("; " + "; ".join(hints)) if hints else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="harness",
        description="Evaluate fine-tuned adapters against their base model: one base load, every arm scored on the "
                    "same documents.",
        epilog=f"example: {EXAMPLE}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error (exit 3)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_run.add_parser(sub)
    cli_train.add_parser(sub)
    cli_demo.add_parser(sub)
    cli_models.add_parser(sub)
    from harness.cli import gate as cli_gate
    from harness.cli import plan as cli_plan
    from harness.cli import registry as cli_registry
    from harness.cli import report as cli_report

    cli_registry.add_parser(sub)
    cli_report.add_parsers(sub)
    cli_gate.add_gate_parser(sub)
    cli_plan.add_parser(sub)
    _debug_everywhere(parser)
    return parser


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """--debug is accepted after the command too (`harness run ... --debug`, what the internal-error line suggests);
    SUPPRESS keeps a subcommand from resetting a --debug given before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if "--debug" not in sub._option_string_actions:
                    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                     help="print the traceback of an internal error (exit 3)")
                _debug_everywhere(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.argv = list(argv) if argv is not None else sys.argv[1:]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        print("error: harness: no command given; choose one of the commands above (e.g. harness demo)", file=sys.stderr)
        return 2
    debug = args.debug or os.environ.get("HARNESS_DEBUG", "") not in ("", "0")
    # bitsandbytes (imported by transformers, peft and accelerate on every path: run, train, the demo's pre-training)
    # logs a warning at import on CPUs with AVX512-BF16 when the optional `kernels` package is missing ("Failed to load
    # CPU gemm_4bit_forward"); it changes nothing we use, and a clean terminal is part of a clear error.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        code = args.func(args) or 0
        # 1 means "a gate rule failed"; a command that is not the gate must not be able to say it.
        return 3 if code == 1 and args.command != "gate" else code
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as e:  # the environment: a folder that cannot be written, a disk that is full, ...
        if debug:
            import traceback

            traceback.print_exc()
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}; check the path and its permissions", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: one line, the traceback on request
        if debug:
            import traceback

            traceback.print_exc()
        first = first_line(e, 300, empty="")
        print(f"error: internal error ({type(e).__name__}: {first}); this is a bug in harness — rerun with --debug "
              "(or HARNESS_DEBUG=1) for the traceback and report it", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())

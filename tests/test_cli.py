"""The CLI's help and light subcommands work without importing torch."""

import subprocess
import sys

import pytest

from harness.cli.app import build_parser, main

CHECK = (
    "import sys, contextlib, io\n"
    "from harness.cli.app import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n"
    "        main({argv!r})\n"
    "    except SystemExit:\n"
    "        pass\n"
    "heavy = [m for m in ('torch', 'transformers', 'peft', 'lm_eval', 'numpy', 'scipy', 'pandas') if m in sys.modules]\n"
    "print(','.join(heavy))\n"
)


# numpy, scipy and pandas too: `harness --help` and a mistyped flag's error line take 0.1 s, not the second that
# importing the statistics would add to every CLI start (a parser-time import of the gate's rule table once did).
@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["models", "--help"], ["models"], ["gate", "--help"]])
def test_help_imports_no_torch(argv):
    out = subprocess.run([sys.executable, "-c", CHECK.format(argv=argv)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"`harness {' '.join(argv)}` imported {out.stdout.strip()}"


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"run", "models"}
    for name, p in sub.choices.items():
        assert p.format_help().startswith(f"usage: harness {name}")


def test_models_lists_aliases(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.split()[0] == "qwen2.5-3b")
    assert line.split()[1] == "Qwen/Qwen2.5-3B"
    assert "tinyllama-1.1b-chat" in out and "qwen2.5-0.5b" in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "usage: harness" in captured.out
    assert captured.err.splitlines() == ["error: harness: no command given; choose one of the commands above (e.g. "
                                         "harness demo)"]


@pytest.mark.parametrize("argv, expected", [
    # A subcommand's unknown flag is answered from that subcommand's flags, and its help is the one named.
    (["registry", "runs", "--jsno"], "error: harness registry runs: unrecognized arguments: --jsno; --jsno: did you "
                                     "mean --json? (see harness registry runs --help)"),
    (["models", "--json"], "error: harness models: unrecognized arguments: --json (see harness models --help)"),
    # A flag of the command above the action, given after it (as the demo's printed registry path invites).
    (["registry", "runs", "--registry", "r.sqlite"],
     "--registry belongs to `harness registry`: give it before the action (`harness registry --registry ... runs ...`)"),
])
def test_flag_hints_come_from_the_command_typed(capsys, argv, expected):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and expected in err

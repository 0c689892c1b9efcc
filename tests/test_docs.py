"""The documentation holds together: the README stays short, every relative link in README.md and docs/*.md reaches a
file (and a heading, for an anchor), and every `harness ...` or `python -m benchmarks...` command they show parses
against the real command line (each flag exists for that command and takes the number of values it is given)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from harness.cli.app import build_parser

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^ {0,3}(```|~~~)")
COMMAND = re.compile(r"^([A-Za-z_]\w*=\S*\s+)*(harness|python3?)\s")


def _rel(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def _prose_and_code(text: str) -> tuple[list[str], list[list[str]]]:
    """The page's prose lines (code blocks blanked out) and its code blocks (fenced, or indented by 4 spaces after a
    blank line, an HTML comment line or another code line), each block's lines without the indentation."""
    prose, blocks, block, fence = [], [], None, None
    previous = ""
    for line in text.splitlines():
        if fence is not None:
            if line.strip().startswith(fence):
                blocks.append(block)
                block, fence = None, None
            else:
                block.append(line)
            prose.append("")
        elif m := FENCE.match(line):
            fence, block = m.group(1), []
            prose.append("")
        elif line.startswith("    ") and (block is not None or not previous.strip() or previous.rstrip().endswith("-->")):
            if block is None:
                block = []
                blocks.append(block)
            block.append(line[4:])
            prose.append("")
        else:
            if block is not None and line.strip():
                block = None
            elif block is not None:
                block.append("")
            prose.append(line)
        previous = line
    return prose, blocks


# --- (a) the README stays short ------------------------------------------------------------------------------------


def test_readme_is_at_most_300_lines():
    n = len((REPO / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= 300, f"README.md has {n} lines; move detail to a page in docs/"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in readme]
    assert PAGES[1:] and not missing, f"docs pages the README's Documentation section does not link: {missing}"


def test_the_readme_keeps_its_markers():
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    for marker in ("<!-- quickstart:begin -->", "<!-- quickstart:end -->", "<!-- demo-headline:begin -->",
                   "<!-- demo-headline:end -->"):
        assert readme.count(marker) == 1, marker
    block = readme[readme.index("<!-- demo-headline:begin -->") + 1:readme.index("<!-- demo-headline:end -->")]
    # what benchmarks.demo writes there: its measurement line, then the table (tests/test_demo_figures.py: the same)
    assert block[0].startswith("Measured ") and block[1] == "" and all(ln.startswith("|") for ln in block[2:])


# --- (b) links ---------------------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered (code, emphasis and link markup dropped), lowercased, every
    character but letters, digits, spaces, '-' and '_' dropped, spaces turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = _prose_and_code(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in prose:
        m = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    prose, _ = _prose_and_code(page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", "\n".join(prose))  # a code span is not a link
    return re.findall(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)


def test_slug_follows_github():
    assert slug("Start here: `harness demo`") == "start-here-harness-demo"
    assert slug("Stopping once decided: `--until-decided`") == "stopping-once-decided---until-decided"
    assert slug("Exit codes (every command)") == "exit-codes-every-command"
    assert slug("Engines: `--engine hf` (default) or `--engine vllm`") == "engines---engine-hf-default-or---engine-vllm"
    assert slug("The registry: `harness registry`") == "the-registry-harness-registry"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page):
    bad = []
    found = links(page)
    for target in found:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {_rel(dest)}")
    assert not bad, f"{_rel(page)}: broken links: {bad}"


def test_the_link_checker_sees_links():
    assert "docs/demo.md#what-is-reproducible" in links(REPO / "README.md")
    assert "start-here-harness-demo" in anchors(REPO / "README.md")


# --- (c) commands ------------------------------------------------------------------------------------------------


def commands(page: Path) -> list[list[str]]:
    """Every command in the page's code blocks, as shell words: lines ending in '\\' (or a synopsis's indented next
    line) joined, '$ ' dropped, comments dropped, chains (&&, ||, ;, |) split, leading VAR=value assignments and
    redirections dropped. A '|' inside [...] separates a synopsis's alternatives and is not a pipe."""
    out = []
    for block in _prose_and_code(page.read_text(encoding="utf-8"))[1]:
        joined: list[str] = []
        for line in block:
            if joined and (joined[-1].endswith("\\") or (line[:1].isspace() and line.strip())):
                joined[-1] = joined[-1].rstrip("\\").rstrip() + " " + line.strip()
            else:
                joined.append(line.rstrip())
        for line in joined:
            line = line.strip()
            line = line[2:] if line.startswith("$ ") else line
            if not line:
                continue
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # not shell (an error message, YAML); a command must split
                assert not COMMAND.match(line), f"{_rel(page)}: unbalanced quotes in {line!r}"
                continue
            out.extend(_split_chain(words))
    return out


def _split_chain(words: list[str]) -> list[list[str]]:
    parts, current, depth = [], [], 0
    for w in words:
        if depth == 0 and w in ("&&", "||", "|", ";"):
            parts.append(current)
            current = []
            continue
        if depth > 0 and w == "|":
            continue
        depth = max(0, depth + w.count("[") - w.count("]"))
        if depth == 0 and w.endswith(";"):
            current.append(w[:-1])
            parts.append(current)
            current = []
        else:
            current.append(w)
    parts.append(current)
    cleaned = []
    for part in parts:
        while part and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", part[0]):
            part = part[1:]
        words, skip = [], False
        for w in part:
            if skip:
                skip = False
            elif re.fullmatch(r"\d?>>?(&\d)?", w):
                skip = "&" not in w
            else:
                words.append(w)
        if words:
            cleaned.append(words)
    return cleaned


def synopsis_args(words: list[str]) -> list[str]:
    """A synopsis turned into an argument list argparse can check: [optional] brackets dropped, 'a|b|c' read as its
    first choice, '...' read as a value after a flag (`[--adapter ...]`) and dropped elsewhere (`[...]`, `run ...`)."""
    args = []
    for w in words:
        if w == "[...]":
            continue
        bare = w.replace("[", "").replace("]", "")
        if bare == "...":
            if args and args[-1].startswith("-"):
                args.append("VALUE")
            continue
        if "|" in bare and not bare.startswith("-"):
            bare = bare.split("|")[0]
        if bare:
            args.append(bare)
    return args


def _lenient(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The real parser, with every value read as text (placeholders such as RUN_DIR or N stay placeholders: no path is
    resolved, no number converted) and no option required (a synopsis may leave out `--base` and `--out`)."""
    for action in parser._actions:
        if action.option_strings:
            action.required = False
        if action.type is not None:
            action.type = None
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _lenient(sub)
    return parser


def parse_harness(args: list[str]) -> str | None:
    """None when `harness ARGS` parses, else argparse's error."""
    parser = _lenient(build_parser())
    parser.argv = args
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            parser.parse_args(args)
    except SystemExit as e:
        if e.code not in (0, None):
            return err.getvalue().strip() or f"exit {e.code}"
    return None


class _Parsed(Exception):
    pass


def parse_benchmark(module: str, args: list[str], monkeypatch) -> str | None:
    """None when `python -m MODULE ARGS` parses: the module's own argparse parser is run by its main(), which stops
    right after parsing, before any work."""
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, argv=None, namespace=None):
        real(self, argv, namespace)
        raise _Parsed

    monkeypatch.syspath_prepend(str(REPO))  # benchmarks/ is not an installed package
    mod = importlib.import_module(module)
    err = io.StringIO()
    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                mod.main(args)
        except _Parsed:
            return None
        except SystemExit as e:
            return None if e.code in (0, None) else err.getvalue().strip() or f"exit {e.code}"
    return "main() returned without parsing its arguments"


def shown_commands() -> list[tuple[str, list[str]]]:
    return [(_rel(page), words) for page in PAGES for words in commands(page)]


def test_the_extractor_finds_the_commands():
    found = shown_commands()
    harness = [w for _, w in found if w[0] == "harness"]
    assert len(harness) >= 30, len(harness)
    subcommands = {w[1] for w in harness if len(w) > 1}
    assert subcommands >= {"demo", "run", "train", "gate", "report", "registry", "plan", "blind"}, subcommands
    assert any(w[:3] == ["python", "-m", "benchmarks.compare"] for _, w in found)
    # a synopsis: the brackets and alternatives become arguments argparse checks
    assert synopsis_args(shlex.split("harness train --format instruction|yelp|text [--eval-data FILE | "
                                     "--eval-fraction 0.1] [--load-in-4bit] [...]")) == [
        "harness", "train", "--format", "instruction", "--eval-data", "FILE", "--eval-fraction", "0.1",
        "--load-in-4bit"]
    assert synopsis_args(["harness", "run", "--adapter", "[NAME=]PATH", "[--adapter", "...]"]) == [
        "harness", "run", "--adapter", "NAME=PATH", "--adapter", "VALUE"]


def test_the_command_check_catches_a_wrong_flag(monkeypatch):
    assert parse_benchmark("benchmarks.compare", ["--limit", "40", "--quick"], monkeypatch) is None
    assert "--limt" in parse_benchmark("benchmarks.compare", ["--limt", "40"], monkeypatch)
    assert parse_harness(["run", "--base", "B", "--tasks", "yelp", "--out", "o"]) is None
    assert "--limt" in parse_harness(["run", "--base", "B", "--tasks", "yelp", "--out", "o", "--limt", "3"])
    assert parse_harness(["gate", "RUN_DIR", "--rules", "r.yaml", "--record", "VALUE"]) is not None  # arity
    assert parse_harness(["report", "RUN_DIR", "--multiplicity", "fdr"]) is not None  # a choice it lacks


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_harness_command_parses(page):
    bad = []
    for words in commands(page):
        if words[0] != "harness":
            continue
        error = parse_harness(synopsis_args(words)[1:])
        if error:
            bad.append(f"{shlex.join(words)}\n    {error}")
    assert not bad, f"{_rel(page)}: commands the CLI does not accept:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_benchmark_command_parses(page, monkeypatch):
    bad = []
    for words in commands(page):
        if words[0] not in ("python", "python3") or len(words) < 3 or words[1] != "-m":
            continue
        if not words[2].startswith("benchmarks."):
            continue
        module = words[2]
        if not (REPO / (module.replace(".", "/") + ".py")).is_file():
            bad.append(f"{shlex.join(words)}: no module {module} under benchmarks/")
            continue
        error = parse_benchmark(module, synopsis_args(words[3:]), monkeypatch)
        if error:
            bad.append(f"{shlex.join(words)}\n    {error}")
    assert not bad, f"{_rel(page)}: benchmark commands that do not parse:\n" + "\n".join(bad)


def inline_commands(page: Path) -> list[list[str]]:
    """The commands written in the prose as code spans (`harness registry add PATH --name N`, in a table or a
    sentence), a span wrapped over two lines included."""
    prose, _ = _prose_and_code(page.read_text(encoding="utf-8"))
    out = []
    for span in re.findall(r"`([^`]+)`", "\n".join(prose)):
        span = " ".join(span.split())
        if "\n\n" in span or not COMMAND.match(span + " "):
            continue
        out.extend(_split_chain(shlex.split(span)))
    return out


def _chain(parser: argparse.ArgumentParser, words: list[str]) -> list[argparse.ArgumentParser]:
    chain = [parser]
    for w in words:
        subs = next((a.choices for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)), {})
        if w in subs:
            chain.append(subs[w])
    return chain


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_flag_in_the_prose_exists(page, monkeypatch):
    """A span in the prose is often a fragment (`harness train ... > summary.txt`, `harness demo --out`), so only its
    flags are checked: each must be one its command has; a benchmark's span is parsed whole."""
    parser = build_parser()
    bad = []
    for words in inline_commands(page):
        if words[0] == "harness":
            chain = _chain(parser, words[1:])
            known = {o for p in chain for a in p._actions for o in a.option_strings}
            for w in synopsis_args(words[1:]):
                if w.startswith("--") and w.split("=")[0] not in known:
                    bad.append(f"`{shlex.join(words)}`: {chain[-1].prog} has no {w.split('=')[0]}")
        elif len(words) >= 3 and words[1] == "-m" and words[2].startswith("benchmarks."):
            if not (REPO / (words[2].replace(".", "/") + ".py")).is_file():
                bad.append(f"`{shlex.join(words)}`: no module {words[2]} under benchmarks/")
            elif error := parse_benchmark(words[2], synopsis_args(words[3:]), monkeypatch):
                bad.append(f"`{shlex.join(words)}`: {error}")
    assert not bad, f"{_rel(page)}: commands in the prose that the CLI does not accept:\n" + "\n".join(bad)


def test_the_prose_check_reads_table_cells():
    words = [w for w in inline_commands(REPO / "docs" / "registry.md") if w[:3] == ["harness", "registry", "add"]]
    assert words and "--name" in words[0]

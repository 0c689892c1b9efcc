"""Reading the user's YAML files (gate rules, training settings) safely: bounded size, bounded alias expansion.

A YAML alias repeats a node without repeating its text, so a few hundred bytes of nested aliases ("billion laughs")
stand for billions of values; anything that walks the result (validation, an error message quoting a value, JSON)
then runs for minutes and takes gigabytes. The file is composed first (cheap: an alias is a reference), its size with
every alias expanded is counted, and a document larger than MAX_NODES, or one that refers to itself, is refused
with the file and line before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import HarnessError

MAX_BYTES = 1 << 20  # a settings file is a few kilobytes; a megabyte is generous
MAX_NODES = 100_000  # values after alias expansion
MAX_DEPTH = 200  # nesting levels


def _children(node) -> list:
    """The nodes directly under a composed YAML node (an alias is the same node object wherever it is used)."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _node_problem(root) -> str | None:
    """Why the composed document is refused (with the line of the node), or None. Iterative: a deep document must
    not exhaust Python's stack here."""

    size: dict[int, int] = {}
    open_: set[int] = set()
    stack = [(root, False, 0)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            size[key] = total
            if total > MAX_NODES:
                return (f"line {node.start_mark.line + 1}: this value expands to more than {MAX_NODES:,} values "
                        "through YAML aliases (*name); write the values out, or use fewer aliases")
            continue
        if key in size:
            continue
        if key in open_:
            return (f"line {node.start_mark.line + 1}: a YAML alias refers to a value that contains it (a loop); "
                    "remove the alias")
        if depth > MAX_DEPTH:
            return f"line {node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep; flatten the file"
        open_.add(key)
        stack.append((node, True, depth))
        for child in reversed(_children(node)):
            if id(child) in open_:
                return (f"line {child.start_mark.line + 1}: a YAML alias refers to a value that contains it (a loop); "
                        "remove the alias")
            if id(child) not in size:
                stack.append((child, False, depth + 1))
    return None


def read_text(path: Path, flag: str) -> str:
    """The file's text, or HarnessError naming `flag` and the path: missing, not a regular file, too large, not UTF-8."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise HarnessError(f"{flag} {path}: is a folder; give the YAML file")
    if not path.is_file():
        raise HarnessError(f"{flag} {path}: not a regular file (a pipe or a device?); give the YAML file")
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise HarnessError(f"{flag} {path}: larger than {MAX_BYTES // 1024} KB, far more than a settings file needs; "
                           "is it the right file?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise HarnessError(f"{path}: line {line}: not UTF-8 text (byte {raw[e.start]:#04x}); re-save the file as UTF-8") from None


def load(path: Path, flag: str):
    """The YAML document in `path` (None when empty), or HarnessError naming the file and line of the problem."""
    import yaml

    text = read_text(path, flag)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            problem = _node_problem(node)
            if problem:
                raise HarnessError(f"{path}: {problem}")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise HarnessError(f"{path}:{where} not valid YAML ({what}); fix the file") from None
    except RecursionError:
        raise HarnessError(f"{path}: nested too deeply to read; flatten the file") from None

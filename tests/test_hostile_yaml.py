"""YAML the user did not mean (or an attacker did): alias bombs, loops, deep nesting, huge files, all refused fast
with the file and line, wherever the harness reads YAML (gate rules, train --config)."""

from __future__ import annotations

import time

import pytest
import yaml

from harness.cli.train import _load_yaml
from harness.core import yamlio
from harness.core.errors import HarnessError
from harness.gate import rules as gate


def _bomb(levels: int = 9, width: int = 9) -> str:
    text = "a: &a [" + ", ".join(['"lol"'] * width) + "]\n"
    for i in range(1, levels):
        name, prev = chr(ord("a") + i), chr(ord("a") + i - 1)
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]\n"
    return text


@pytest.mark.parametrize("reader", [lambda p: gate.load_rules(p), _load_yaml])
def test_billion_laughs_is_refused_in_well_under_a_second(tmp_path, reader):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb() + "rules:\n  - *i\n")
    t0 = time.perf_counter()
    with pytest.raises(HarnessError, match=r"bomb.yaml: line \d+: this value expands to more than 100,000 values"):
        reader(path)
    assert time.perf_counter() - t0 < 0.5


def test_a_small_use_of_aliases_still_works(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("common: &c {task: yelp, metric: f1_macro}\nrules:\n  - {<<: *c, kind: floor, value: 0.1}\n"
                    "  - {<<: *c, kind: ceiling, value: 0.9}\n")
    assert gate.load_rules(path) == yaml.safe_load(path.read_text())["rules"]
    assert gate.load_rules(path)[1] == {"task": "yelp", "metric": "f1_macro", "kind": "ceiling", "value": 0.9}


def test_a_value_just_under_the_bound_loads(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text(_bomb(levels=4, width=10))  # 10**4 leaves: large, not a bomb
    assert len(yamlio.load(path, "--config")["d"]) == 10


@pytest.mark.parametrize("text, message", [
    ("a: &a [1, *a]\n", "line 1: a YAML alias refers to a value that contains it"),
    ("r: " + "[" * 3000 + "]" * 3000 + "\n", "nested"),
    ("r: " + "[" * 250 + "]" * 250 + "\n", "nested more than 200 levels"),
    ("a: 1\n---\nb: 2\n", "line 2: not valid YAML"),
    ("a: !!python/object/apply:os.system ['true']\n", "line 1: not valid YAML"),
    ("a: [unclosed\n", "not valid YAML"),
])
def test_hostile_documents(tmp_path, text, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError, match=message):
        yamlio.load(path, "--rules")


def test_size_encoding_and_kind_of_file(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("r: 8\n" + "#" * (yamlio.MAX_BYTES + 1))
    with pytest.raises(HarnessError, match="larger than 1024 KB"):
        yamlio.load(big, "--config")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"r: 8\nname: caf\xe9\n")
    with pytest.raises(HarnessError, match="latin.yaml: line 2: not UTF-8"):
        yamlio.load(latin, "--config")
    with pytest.raises(HarnessError, match="is a folder"):
        yamlio.load(tmp_path, "--rules")
    with pytest.raises(HarnessError, match="--config .*nope.yaml: no such file"):
        _load_yaml(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert _load_yaml(empty) == {}
    listed = tmp_path / "list.yaml"
    listed.write_text("- r: 8\n")
    with pytest.raises(HarnessError, match="expected a mapping of setting"):
        _load_yaml(listed)

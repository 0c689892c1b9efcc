"""RunConfig validation: every problem found at once, before any model loads."""

from pathlib import Path

import pytest

from harness.models.refs import resolve_base
from harness.run.config import RunConfig


def test_resolve_local_alias_hub(tiny_model):
    ref, err = resolve_base(str(tiny_model))
    assert err is None and ref.local and ref.source == str(tiny_model.resolve())
    ref, err = resolve_base("qwen2.5-3b")
    assert err is None and not ref.local and ref.source == "Qwen/Qwen2.5-3B"
    ref, err = resolve_base("org/some-model")
    assert err is None and ref.source == "org/some-model"


@pytest.mark.parametrize("name, fragment", [
    ("/no/such/model", "no such directory"),
    ("./missing-model", "no such directory"),
    ("qwen2.5-3bb", "did you mean qwen2.5-3b"),
])
def test_resolve_base_problems(name, fragment):
    ref, err = resolve_base(name)
    assert ref is None and fragment in err


def test_base_folder_without_config(tmp_path):
    ref, err = resolve_base(str(tmp_path))
    assert ref is None and "config.json" in err


def test_all_problems_reported_together(tmp_path):
    cfg = RunConfig(base="/no/such/model", tasks=[], out=tmp_path / "run", limit=0, batch_size=0,
                    device="tpu", include_paths=[tmp_path / "nope"])
    problems = cfg.validate()
    joined = " | ".join(problems)
    assert len(problems) == 6, joined
    for fragment in ("--base", "--tasks", "--limit 0", "--batch-size 0", "--device tpu", "--include-path"):
        assert fragment in joined


def test_existing_run_needs_force(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    cfg = RunConfig(base="qwen2.5-3b", tasks=["x"], out=tmp_path / "run")
    assert any("--force" in p for p in cfg.validate())
    cfg.force = True
    assert cfg.validate() == []


def test_unwritable_out_is_caught_by_probing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = RunConfig(base="qwen2.5-3b", tasks=["x"], out=blocker / "run")
    problems = cfg.validate()
    assert len(problems) == 1 and "--out" in problems[0] and "is a file" in problems[0]


def test_to_json_is_plain(tmp_path):
    import json

    cfg = RunConfig(base="qwen2.5-3b", tasks=["a"], out=Path("x"), include_paths=[tmp_path])
    assert json.loads(json.dumps(cfg.to_json()))["dtype"] == "auto"


def test_out_that_would_write_into_the_wrong_place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("mine")
    for out, fragment in ((tmp_path, "is the current folder"), (tmp_path.parent, "is the current folder"),
                          (tmp_path / "notes", "holds files that are not a run")):
        problems = RunConfig(base="qwen2.5-3b", tasks=["x"], out=out).validate()
        assert len(problems) == 1 and fragment in problems[0], (out, problems)
    # a half-written run (samples only, as an interrupted run leaves it) and report outputs are a run's own files
    (tmp_path / "half" / "samples").mkdir(parents=True)
    (tmp_path / "half" / "report.md").write_text("")
    assert RunConfig(base="qwen2.5-3b", tasks=["x"], out=tmp_path / "half").validate() == []
    assert RunConfig(base="qwen2.5-3b", tasks=["x"], out=tmp_path / "notes", force=True).validate() == []


def test_duplicate_tasks_run_once():
    assert RunConfig(base="qwen2.5-3b", tasks=["yelp", "docqa", "yelp"], out=Path("r")).tasks == ["yelp", "docqa"]

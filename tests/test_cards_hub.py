"""Model cards follow the Hub's conventions (`harness report` -> cards/<arm>/README.md): huggingface_hub loads them
with their evaluation results; base_model is a Hub id (an alias's, the adapter config's, --base-model-id) or left out;
library_name, pipeline_tag, and license, language and datasets only where known; no count as a metric; the gate and
the warnings near the top, whole; a usage snippet; and no path of this machine anywhere in a card (the other files of
the report are checked too: their leaks are named, not fixed here)."""

from __future__ import annotations

import json
import re
import shutil
import zlib
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from harness.cli.app import main
from harness.core import results
from harness.models.aliases import ALIASES
from reports import card_meta, cards, data
from reports.write import write_report

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"
GOLDEN = json.loads((GOLDEN_RUN / "run.json").read_text())
ADAPTERS = [a["name"] for a in GOLDEN["arms"] if a["adapter"]]
ALL_FORMATS = {"md", "html", "tex", "png", "pdf", "card"}
COUNTS = {"n", "n_parsed", "count"}


def _copy(dest: Path, edit=None) -> Path:
    """The golden run copied to `dest`, its run.json edited by `edit(run)`."""
    shutil.copytree(GOLDEN_RUN, dest)
    if edit:
        run = json.loads((dest / "run.json").read_text())
        edit(run)
        (dest / "run.json").write_text(json.dumps(run, indent=1))
    return dest


def _alias_base(run: dict) -> None:
    """The base as `harness run --base qwen2.5-3b` records it (harness.models.refs.resolve_base)."""
    run["config"]["base"] = "qwen2.5-3b"
    run["base"].update(name="qwen2.5-3b", source=ALIASES["qwen2.5-3b"].hub_id)


def _cards(out: Path) -> dict[str, ModelCard]:
    return {arm: ModelCard.load(out / "cards" / arm / "README.md") for arm in ADAPTERS}


# --- huggingface_hub reads every card ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alias_cards(tmp_path_factory) -> dict[str, ModelCard]:
    root = tmp_path_factory.mktemp("alias")
    run = _copy(root / "run", _alias_base)
    write_report([run], root / "out", {"card"})
    return _cards(root / "out")


@pytest.fixture(scope="module")
def local_cards(tmp_path_factory) -> dict[str, ModelCard]:
    out = tmp_path_factory.mktemp("local")
    write_report([GOLDEN_RUN], out, {"card"})
    return _cards(out)


def _check_hub_card(card: ModelCard, arm: str) -> None:
    meta = card.data.to_dict()
    assert meta["library_name"] == "peft" and meta["pipeline_tag"] == "text-generation"
    assert card.data.eval_results, "huggingface_hub read no evaluation result"
    assert card.data.model_name == arm
    assert not COUNTS & {r.metric_type for r in card.data.eval_results}
    assert not COUNTS & {r.metric_name for r in card.data.eval_results}
    by_task = {r.dataset_name.split(" (")[0]: r for r in card.data.eval_results}
    assert by_task["Yelp Review Full"].dataset_type == "Yelp/yelp_review_full"
    assert by_task["Yelp Review Full"].dataset_split == "test"
    assert by_task["NQ-open"].dataset_type == "google-research-datasets/nq_open"
    assert by_task["NQ-open"].dataset_split == "validation"
    assert meta["datasets"] == ["Yelp/yelp_review_full", "google-research-datasets/nq_open"]
    assert meta["language"] == ["en"]
    assert "license" not in meta  # none recorded, none given: never invented
    assert "## Usage" in card.text and 'PeftModel.from_pretrained(base, "<your-username>/<adapter-name>")' in card.text


@pytest.mark.parametrize("arm", ADAPTERS)
def test_a_card_on_an_alias_base_names_its_hub_id(alias_cards, arm):
    card = alias_cards[arm]
    _check_hub_card(card, arm)
    assert card.data.base_model == "Qwen/Qwen2.5-3B" == ALIASES["qwen2.5-3b"].hub_id
    assert 'AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-3B")' in card.text


@pytest.mark.parametrize("arm", ADAPTERS)
def test_a_card_on_a_local_base_leaves_base_model_out_and_names_the_folder(local_cards, arm):
    card = local_cards[arm]
    _check_hub_card(card, arm)
    assert card.data.base_model is None and "base_model" not in card.content.split("\n---\n")[0]
    assert "the local model named `tiny-base`" in card.text
    assert GOLDEN["base"]["source"] not in card.content  # /models/tiny-base


def test_the_hub_datasets_are_those_the_tasks_load():
    from tasks.general_mc import utils as general_mc
    from tasks.general_qa import utils as general_qa
    from tasks.yelp import utils as yelp

    assert card_meta.HUB_DATASETS["yelp"][::3] == card_meta.HUB_DATASETS["yelp_mc"][::3] == yelp.DEFAULT_DATASET
    assert card_meta.HUB_DATASETS["general_qa"][::3] == general_qa.DEFAULT_DATASET
    assert card_meta.HUB_DATASETS["general_mc"][0] == general_mc.DEFAULT_DATASET[0]
    assert card_meta.HUB_DATASETS["general_mc"][2] == general_mc.DEFAULT_DATASET[1]  # the config, "all"


def test_local_data_claims_no_hub_dataset_nor_language(tmp_path):
    def local(run):
        run["config"]["data"] = {"yelp": str(tmp_path / "reviews.csv")}
        run["config"]["task_meta"] = {"general_qa_data": str(tmp_path / "facts.jsonl")}

    write_report([_copy(tmp_path / "run", local)], tmp_path / "out", {"card"})
    card = ModelCard.load(tmp_path / "out" / "cards" / "lora_r8" / "README.md")
    meta = card.data.to_dict()
    assert "datasets" not in meta and "language" not in meta
    assert {r.dataset_type for r in card.data.eval_results} == {"yelp", "docqa", "perplexity", "general_qa"}
    assert not any(r.dataset_split for r in card.data.eval_results)
    assert str(tmp_path) not in card.content


def test_general_mc_records_its_config_and_the_split_the_run_asked_for():
    run = {"config": {"task_meta": {"general_mc_split": "val"}}}
    assert card_meta.hub_dataset(run, "general_mc") == ("cais/mmlu", "MMLU", "all", "val")
    assert card_meta.hub_dataset({"config": {"data": {"general_mc": "/x"}}}, "general_mc") is None
    assert card_meta.hub_dataset({"config": {}}, "docqa") is None


# --- where base_model comes from -----------------------------------------------------------------------------------

def _arm(peft: dict | None = None, summary: dict | None = None) -> data.Arm:
    return data.Arm("a", GOLDEN_RUN, "a", adapter={"peft": peft or {}}, train_summary=summary)


LOCAL = {"base": {"name": "base", "source": "/home/me/models/base", "fingerprint": "sha256:1"}}


def test_base_model_id_sources_in_order():
    assert card_meta.base_model_id(LOCAL, _arm()) == (None, "")
    # the base's _name_or_path as the adapter's config recorded it: an id, never a path
    claimed = _arm({"base_model_name_or_path": "Qwen/Qwen2.5-3B"})
    assert card_meta.base_model_id(LOCAL, claimed) == ("Qwen/Qwen2.5-3B", "as the adapter's config names it")
    for path in ("/home/me/models/base", "./base", "~/base", "C:\\models\\base", "base"):
        assert card_meta.base_model_id(LOCAL, _arm({"base_model_name_or_path": path}))[0] is None, path
    # --base-model-id wins over the adapter config's guess
    assert card_meta.base_model_id(LOCAL, claimed, "me/base")[0] == "me/base"
    # what the training loaded, when it is the same weights
    same = _arm(summary={"base": {"source": "Qwen/Qwen2.5-3B", "fingerprint": "sha256:1"}})
    other = _arm(summary={"base": {"source": "Qwen/Qwen2.5-3B", "fingerprint": "sha256:2"}})
    assert card_meta.base_model_id(LOCAL, same)[0] == "Qwen/Qwen2.5-3B"
    assert card_meta.base_model_id(LOCAL, other)[0] is None
    # a base loaded from the hub is that id, whatever else is said
    hub = {"base": {"name": "qwen2.5-3b", "source": "Qwen/Qwen2.5-3B"}}
    assert card_meta.base_model_id(hub, _arm({"base_model_name_or_path": "x/y"})) == ("Qwen/Qwen2.5-3B", "")


def test_base_model_id_flag_names_a_local_base(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", str(GOLDEN_RUN), "--out", str(out), "--format", "card", "--base-model-id", "me/tiny-base",
                 "--license", "apache-2.0"]) == 0
    card = ModelCard.load(out / "cards" / "lora_r8" / "README.md")
    assert card.data.base_model == "me/tiny-base" and card.data.license == "apache-2.0"
    assert 'from_pretrained("me/tiny-base")' in card.text
    assert "as `--base-model-id` names it; the run loaded a local folder named `tiny-base`" in card.text


@pytest.mark.parametrize("argv,said", [
    (["--base-model-id", "/models/tiny-base"], "not a Hub id"),
    (["--base-model-id", "me/base", "--format", "md"], "only the model cards use it"),
    (["--license", "Apache 2.0"], "not a license id"),
])
def test_bad_card_flags_are_refused_before_anything_is_written(tmp_path, capsys, argv, said):
    out = tmp_path / "out"
    assert main(["report", str(GOLDEN_RUN), "--out", str(out), *argv]) == 2
    assert said in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_base_model_id_flag_may_not_contradict_a_hub_base(tmp_path, capsys):
    run = _copy(tmp_path / "run", _alias_base)
    out = tmp_path / "out"
    assert main(["report", str(run), "--out", str(out), "--base-model-id", "me/other"]) == 2
    assert "loaded its base from the Hub as Qwen/Qwen2.5-3B" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_license_comes_from_the_adapters_own_card(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlicense: mit\nlibrary_name: peft\n---\n# my adapter\n")
    arm = data.Arm("a", GOLDEN_RUN, "a", adapter={"path": str(folder), "peft": {}})
    assert card_meta.license_of(arm, None) == "mit"
    assert card_meta.license_of(arm, "apache-2.0") == "apache-2.0"
    (folder / "README.md").write_text("---\nlibrary_name: peft\n---\n")
    assert card_meta.license_of(arm, None) is None
    assert card_meta.license_of(data.Arm("a", GOLDEN_RUN, "a", adapter={"path": str(tmp_path / "gone")}), None) is None


# --- the gate and the warnings first, whole --------------------------------------------------------------------------

def test_gate_and_warnings_come_before_the_headline_and_are_never_cut(tmp_path):
    run_dir = _copy(tmp_path / "run")
    rows = results.read_samples(run_dir, "lora_r8", "general_qa")  # lora_r8 answers "2" to every question
    results.write_jsonl(results.samples_path(run_dir, "lora_r8", "general_qa"), [dict(r, response="2") for r in rows])
    report = data.load([run_dir])
    detail = "inconclusive: " + "a long reason with many words " * 20 + "END"
    report.gates = [{"run_id": GOLDEN["run_id"], "run_dir": run_dir, "rules": [
        {"name": "forgetting", "passed": False, "checks": [{"arm": "lora_r8", "passed": False, "detail": detail}]}]}]
    r8, r16 = (cards.render(report, a) for a in report.arms[1:])
    assert " ".join(detail.split()) in r8 and r8.index("**Gate**") < r8.index("## Headline")
    warning = "lora_r8 on general_qa: it gave the same answer “2” to 30 of its 30 non-empty answers"
    assert warning in r8 and r8.index("## Warnings") < r8.index("## Headline")
    assert "same answer" not in r16  # another adapter's warning is not this card's


# --- no path of this machine ---------------------------------------------------------------------------------------

def test_scrub_leaves_folder_names_only():
    text = ("see /home/me/runs/r1/gate.json (stale), C:\\Users\\me\\base and ~/x/y; n/a, 1/2, Qwen/Qwen2.5-3B, "
            "https://huggingface.co/Qwen/Qwen2.5-3B, `/data/a b/c.csv`")
    got = card_meta.scrub(text, ["/data/a b/c.csv"])
    assert got == ("see gate.json (stale), base and y; n/a, 1/2, Qwen/Qwen2.5-3B, "
                   "https://huggingface.co/Qwen/Qwen2.5-3B, `c.csv`")
    assert card_meta.scrub({"a": ["/x/y"], "b": 1.5}, []) == {"a": ["y"], "b": 1.5}


def _leaky_run(root: Path) -> tuple[Path, Path]:
    """The golden run in `root`, recorded as a run on this machine records it: an absolute local base (also in the
    adapters' config), adapters, data and outputs under `root`, and a gate.json whose note names its absolute path."""
    base = root / "models" / "tiny-base"

    def edit(run):
        run["config"].update(base=str(base), out=str(root / "run"), cache_dir=str(root / "cache"),
                             adapters=[f"{a}={root / 'adapters' / a}" for a in ADAPTERS],
                             data={"docqa": str(root / "data" / "qa.csv")})
        run["base"]["source"] = str(base)
        for arm in run["arms"]:
            if arm["adapter"]:
                arm["adapter"]["path"] = str(root / "adapters" / arm["name"])
                arm["adapter"]["peft"]["base_model_name_or_path"] = str(base)

    run_dir = _copy(root / "run", edit)
    (run_dir / "gate.json").write_text(json.dumps({"run_id": GOLDEN["run_id"], "passed": True, "rules": [
        {"name": "forgetting", "passed": True, "checks": [
            {"arm": a, "passed": True, "detail": f"read {run_dir / 'run.json'}"} for a in ADAPTERS]}]}))
    return run_dir, base


def _pdf_text(b: bytes) -> bytes:
    """A PDF's bytes with its compressed streams inflated, so that text inside them is found too."""
    out = [b]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", b, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    return b"\n".join(out)


@pytest.fixture(scope="module")
def leaky_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("leak")
    run_dir, base = _leaky_run(root)
    out, written, _ = write_report([run_dir], None, ALL_FORMATS)
    assert {Path(f).suffix for f in written} >= {".md", ".html", ".tex", ".png", ".pdf"}
    assert sum(f.startswith("cards/") for f in written) == len(ADAPTERS)
    needles = {str(root), str(run_dir), str(run_dir.resolve()), str(base), GOLDEN["base"]["source"]}
    leaks = {}
    for f in written:
        raw = (out / f).read_bytes()
        found = _pdf_text(raw) if f.endswith(".pdf") else raw
        hits = sorted(n for n in needles if n.encode() in found or n.replace("/", "\\/").encode() in found)
        if hits:
            leaks[f] = hits
    return out, written, leaks, needles


def test_no_card_holds_a_local_path(leaky_report):
    out, written, leaks, needles = leaky_report
    card_files = [f for f in written if f.startswith("cards/")]
    assert not {f: h for f, h in leaks.items() if f in card_files}
    for f in card_files:
        card = ModelCard.load(out / f)
        assert card.data.base_model is None  # the adapters' config names a path: no Hub id known
        assert not re.search(r"(?<![\w.:/])/(?:tmp|home|models|adapters|Users)/", card.content), f
        assert "gate.json" in card.text  # the stale gate's note, as a file name
        assert "**Gate** (`harness gate`): PASS" in card.text


def test_no_other_report_file_holds_a_local_path(leaky_report):
    _, written, leaks, _ = leaky_report
    assert not {f: h for f, h in leaks.items() if not f.startswith("cards/")}, "a local path outside the cards"

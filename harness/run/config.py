"""Typed run configuration, validated whole before anything heavy happens.

`RunConfig.validate()` returns every problem it finds (not just the first), so a typo in a flag fails in
milliseconds with the full list rather than after a 3B model has loaded.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.core.paths import default_cache_dir
from harness.core.results import RUN_FILE
from harness.engines.base import ENGINES
from harness.models.refs import DType, resolve_base

# --data KEY=PATH -> the task metadata field the project's tasks read (stock lm-eval: --metadata '{"FIELD": PATH}').
DATA_KEYS = {"yelp": "yelp_data", "docqa": "docqa_data", "docqa_documents": "docqa_documents",
             "perplexity": "perplexity_data", "perplexity_general": "perplexity_general_data",
             "general_qa": "general_qa_data", "general_mc": "general_mc_data"}
# Which tasks read each --data key (globs): a --data value no selected task reads is an error, not silently ignored.
DATA_READERS = {"yelp": ("yelp", "yelp_mc"), "docqa": ("docqa", "docqa_lf"), "docqa_documents": ("docqa", "docqa_lf"),
                "perplexity": ("perplexity", "perplexity_ctx*"), "perplexity_general": ("perplexity_general",),
                "general_qa": ("general_qa",), "general_mc": ("general_mc",)}


@dataclass(frozen=True)
class MetaKey:
    readers: tuple[str, ...]  # task globs that read it
    kind: str  # "int>=1" | "int>=0" | "choice"
    choices: tuple[str, ...] = ()


# The --task-meta settings the project's tasks read, checked before anything loads.
TASK_META = {
    "ppl_window": MetaKey(("perplexity", "perplexity_general"), "int>=1"),
    "ppl_stride": MetaKey(("perplexity", "perplexity_general", "perplexity_ctx*"), "int>=1"),
    "docqa_context_chars": MetaKey(("docqa", "docqa_lf"), "int>=1"),
    "general_mc_shots": MetaKey(("general_mc",), "int>=0"),
    "general_mc_split": MetaKey(("general_mc",), "choice", ("test", "val")),
}


@dataclass
class RunConfig:
    base: str
    tasks: list[str]
    out: Path
    adapters: list[str] = field(default_factory=list)
    include_paths: list[Path] = field(default_factory=list)
    dtype: DType = DType.AUTO
    device: str = "auto"
    load_in_4bit: bool = False
    trust_remote_code: bool = False
    allow_pickle: bool = False
    limit: int | None = None
    batch_size: int = 1
    max_gen_toks: int | None = None
    seed: int = 1234
    apply_chat_template: bool = False
    num_fewshot: int | None = None
    use_cache: bool = True
    cache_dir: Path = field(default_factory=default_cache_dir)
    bootstrap_iters: int = 1000
    resamples: int = 1000
    multiplicity: str = "holm"
    force: bool = False
    data: dict[str, str] = field(default_factory=dict)
    task_meta: dict[str, object] = field(default_factory=dict)
    registry: Path | None = None
    use_registry: bool = True
    engine: str = "hf"
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    until_decided: bool = False
    rules: Path | None = None
    max_docs: int | None = None
    first_chunk: int = 64

    def __post_init__(self):
        # `--tasks yelp,yelp` (or a glob that repeats a name) means yelp once, not every score twice.
        self.tasks = list(dict.fromkeys(self.tasks))

    def warnings(self) -> list[str]:
        """What is allowed but probably not meant: with --include-path, a --data key that none of the project's
        selected tasks reads is passed on (a task of the user's may read it), and said so."""
        out = []
        if self.until_decided and not self.use_cache:
            out.append("--no-cache with --until-decided: every chunk scores its earlier documents again (the per-arm "
                       "cache is what makes a chunk cost only its new documents)")
        if not self.include_paths:
            return out
        return out + [f"--data {key}={path}: none of the project's tasks in --tasks reads it (it is for "
                f"{', '.join(DATA_READERS[key])}); it is passed to the tasks of --include-path as metadata field "
                f"'{DATA_KEYS[key]}', and ignored if none of them reads it"
                for key, path in self.data.items() if key in DATA_READERS and not self._read_by_tasks(DATA_READERS[key])]

    def to_json(self) -> dict:
        d = asdict(self)
        d["dtype"] = self.dtype.value
        for k in ("out", "cache_dir", "registry"):
            d[k] = str(d[k]) if d[k] is not None else None
        d["include_paths"] = [str(p) for p in self.include_paths]
        d["rules"] = str(self.rules) if self.rules is not None else None
        return d

    def task_metadata(self, base_source: str) -> dict:
        """What every task's custom_dataset receives: the tokenizer source, the data paths, --task-meta values."""
        meta: dict = {"pretrained": base_source, "tokenizer": base_source, "trust_remote_code": self.trust_remote_code}
        meta.update({DATA_KEYS[k]: str(Path(v).expanduser().resolve()) for k, v in self.data.items() if k in DATA_KEYS})
        meta.update(self.task_meta)
        if self.num_fewshot is not None and self._read_by_tasks(TASK_META["general_mc_shots"].readers):
            meta.setdefault("general_mc_shots", self.num_fewshot)  # general_mc writes its own solved examples
        return meta

    def validate(self) -> list[str]:
        """Every problem with the flags themselves; adapters and tasks are checked by their own modules."""
        problems: list[str] = []
        _, base_problem = resolve_base(self.base)
        if base_problem:
            problems.append(base_problem)
        if not self.tasks:
            problems.append("--tasks: no task given; name at least one, e.g. --tasks yelp,docqa")
        if self.limit is not None and self.limit < 1:
            problems.append(f"--limit {self.limit}: must be a whole number of documents >= 1 (leave it out for all)")
        if self.batch_size < 1:
            problems.append(f"--batch-size {self.batch_size}: must be >= 1")
        if self.max_gen_toks is not None and self.max_gen_toks < 1:
            problems.append(f"--max-gen-toks {self.max_gen_toks}: must be >= 1")
        if self.num_fewshot is not None and self.num_fewshot < 0:
            problems.append(f"--num-fewshot {self.num_fewshot}: must be >= 0")
        shots = self.task_meta.get("general_mc_shots")
        if self.num_fewshot is not None and shots is not None and shots != self.num_fewshot:
            problems.append(f"--num-fewshot {self.num_fewshot} and --task-meta general_mc_shots={shots}: two numbers of "
                            "shots for general_mc; give one of them")
        if self.resamples < 0:
            problems.append(f"--resamples {self.resamples}: must be >= 0")
        if self.multiplicity not in ("holm", "bh"):
            problems.append(f"--multiplicity {self.multiplicity!r}: choose holm or bh")
        if self.bootstrap_iters < 0:
            problems.append(f"--bootstrap-iters {self.bootstrap_iters}: must be >= 0")
        problems.extend(self._check_engine())
        problems.extend(self._check_sequential())
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            problems.append(f"--device {self.device}: expected auto, cpu, cuda, cuda:N or mps")
        for key, path in self.data.items():
            if key not in DATA_KEYS:
                close = difflib.get_close_matches(key, list(DATA_KEYS), n=1)
                problems.append(f"--data {key}={path}: unknown data key '{key}'"
                                + (f" (did you mean {close[0]}?)" if close else "") + f"; expected one of {', '.join(DATA_KEYS)}")
            elif not Path(path).expanduser().exists():
                problems.append(f"--data {key}={path}: no such file or folder")
            elif self.tasks and not self.include_paths and not self._read_by_tasks(DATA_READERS[key]):
                # (with --include-path, the user's own tasks may read any data key: an include of yelp.yaml does)
                problems.append(f"--data {key}={path}: no task in --tasks reads it (it is for "
                                f"{', '.join(DATA_READERS[key])}); add one of them to --tasks or drop this --data")
        problems.extend(self._check_task_meta())
        for p in self.include_paths:
            if not p.is_dir():
                problems.append(f"--include-path {p}: no such directory; give a folder of lm-eval task YAMLs")
        problems.extend(self._check_out())
        return problems

    def _check_engine(self) -> list[str]:
        if self.engine not in ENGINES:
            return [f"--engine {self.engine}: expected one of {', '.join(ENGINES)}"]
        problems = []
        vllm_only = {"--tensor-parallel-size": self.tensor_parallel_size != 1, "--data-parallel-size": self.data_parallel_size != 1,
                     "--gpu-memory-utilization": self.gpu_memory_utilization is not None,
                     "--max-model-len": self.max_model_len is not None}
        if self.engine != "vllm":
            problems += [f"{flag}: a vLLM setting; add --engine vllm (the hf engine ignores it)"
                         for flag, given in vllm_only.items() if given]
        for flag, value in (("--tensor-parallel-size", self.tensor_parallel_size), ("--data-parallel-size", self.data_parallel_size)):
            if value < 1:
                problems.append(f"{flag} {value}: must be >= 1")
        if self.gpu_memory_utilization is not None and not 0 < self.gpu_memory_utilization <= 1:
            problems.append(f"--gpu-memory-utilization {self.gpu_memory_utilization}: a share between 0 and 1 "
                            "(on CPU: the share of RAM for the KV cache, e.g. 0.1)")
        if self.max_model_len is not None and self.max_model_len < 2:
            problems.append(f"--max-model-len {self.max_model_len}: must be >= 2")
        if self.engine == "vllm" and self.batch_size != 1:
            problems.append("--batch-size: the vllm engine schedules its own batches (continuous batching); leave it out")
        return problems

    def _check_sequential(self) -> list[str]:
        """--until-decided needs its rules; the flags that shape it mean nothing without it."""
        if not self.until_decided:
            given = [f for f, v in (("--rules", self.rules), ("--max-docs", self.max_docs),
                                    ("--first-chunk", self.first_chunk != 64 or None)) if v is not None]
            return [f"{f}: a setting of --until-decided; add --until-decided (or drop {f})" for f in given]
        problems = []
        if self.rules is None:
            problems.append("--until-decided: needs --rules RULES.yaml, the gate rules that decide when a task may stop")
        elif not self.rules.is_file():
            problems.append(f"--rules {self.rules}: no such file; give the gate rules YAML")
        if self.limit is not None:
            problems.append("--limit with --until-decided: --limit takes the first documents, --until-decided a seeded "
                            "random order; cap the documents with --max-docs instead")
        if self.max_docs is not None and self.max_docs < 1:
            problems.append(f"--max-docs {self.max_docs}: must be a whole number of documents >= 1")
        if self.first_chunk < 1:
            problems.append(f"--first-chunk {self.first_chunk}: must be a whole number of documents >= 1")
        return problems

    def _read_by_tasks(self, readers: tuple[str, ...]) -> bool:
        import fnmatch

        return any(fnmatch.fnmatchcase(t, r) or fnmatch.fnmatchcase(r, t) for t in self.tasks for r in readers)

    def _check_task_meta(self) -> list[str]:
        problems = []
        for key, value in self.task_meta.items():
            spec = TASK_META.get(key)
            if spec is None:
                if self.include_paths:
                    continue  # the user's own tasks may read any metadata key
                close = difflib.get_close_matches(key, list(TASK_META), n=1)
                problems.append(f"--task-meta {key}={value}: no task reads '{key}'"
                                + (f" (did you mean {close[0]}?)" if close else "")
                                + f"; the project's tasks read {', '.join(TASK_META)} (your own tasks: --include-path)")
                continue
            if self.tasks and not self._read_by_tasks(spec.readers):
                problems.append(f"--task-meta {key}={value}: no task in --tasks reads it (it is for "
                                f"{', '.join(spec.readers)}); add one of them to --tasks or drop this --task-meta")
            if spec.kind == "choice":
                if str(value) not in spec.choices:
                    problems.append(f"--task-meta {key}={value}: expected one of {', '.join(spec.choices)}")
                continue
            low = 1 if spec.kind == "int>=1" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                problems.append(f"--task-meta {key}={value}: expected a whole number >= {low}")
        return problems

    def _check_out(self) -> list[str]:
        out = self.out
        if (out / RUN_FILE).exists() and not self.force:
            return [f"--out {out}: holds a complete run ({out / RUN_FILE}); choose another --out or pass --force to replace it"]
        from harness.core.paths import RUN_DIR_ENTRIES, out_problem

        ref, _ = resolve_base(self.base)
        protected = {"the base model folder": Path(ref.source)} if ref and ref.local else {}
        problem = out_problem(out, "--out", owned=RUN_DIR_ENTRIES, force=self.force, protected=protected)
        return [problem] if problem else []

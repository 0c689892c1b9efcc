"""The demo's base models, shipped pre-trained in the package (bases/quick, bases/full) with their sha256 in
bases/SHA256SUMS: a base pre-trained from scratch is the one step whose result depends on how the CPU sums floats
(hundreds of steps turn any rounding difference into other weights), so the demo evaluates the same bytes on every
machine and pre-trains only for a seed no shipped base was made with. `python -m harness.demo.pretrain [--quick]
--out DIR` re-creates one. No torch here."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.core.fingerprint import sha256_file

BASES = Path(__file__).resolve().parent / "bases"
SUMS = BASES / "SHA256SUMS"
SEED = 0  # the world the shipped bases were pre-trained on
FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def portable_kernels() -> dict[str, str]:
    """Environment settings that pin torch's CPU kernels (ATen), MKL and oneDNN to their AVX2 code paths on x86-64
    CPUs with AVX2 (nearly all since 2013), AVX512 ones included: the adapter training and the evaluation then run
    the same code on most machines. MKL_CBWR is MKL's own setting for reproducible results across CPUs. Empty on
    other CPUs (the pins would not apply)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    if " avx2" not in flags:
        return {}
    return {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def digests(folder: Path) -> dict[str, str]:
    """`<size>/<file>` -> sha256 of a base folder's files, as SHA256SUMS lists them."""
    return {f"{folder.name}/{name}": sha256_file(folder / name) for name in FILES}


def expected() -> dict[str, str]:
    lines = [ln.split() for ln in SUMS.read_text().splitlines() if ln.strip()]
    return {name: digest for digest, name in lines}


def remove_checkpoints(base: Path) -> None:
    shutil.rmtree(base / "checkpoints", ignore_errors=True)


def available(seed: int) -> bool:
    return seed == SEED


def copy_base(quick: bool, out: Path) -> Path:
    """The shipped base for this demo size, checked against SHA256SUMS, copied to `out` (the demo's folder is
    self-contained, and the package's own files are never an output)."""
    from harness.core.errors import HarnessError

    src, sums = BASES / ("quick" if quick else "full"), expected()
    for name in FILES:
        key = f"{src.name}/{name}"
        if not (src / name).is_file() or sha256_file(src / name) != sums.get(key):
            raise HarnessError(f"the demo's shipped base file {key} is missing or not the one SHA256SUMS lists "
                               "(a partial checkout, or Git LFS not fetched?); reinstall the package from a complete "
                               "checkout, or run the demo with another --seed, which pre-trains a base on this CPU")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(src / name, tmp / name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out

"""`harness demo`: the whole workflow offline in a folder of its own (harness.demo.script)."""

from __future__ import annotations

import os

from harness.core.errors import HarnessError
from harness.core.paths import user_path


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the whole workflow offline in minutes: base, adapter, run, gate, report",
                       description="Build a small world (a tiny pre-trained base shipped in the package, reviews, a "
                                   "manual, facts), train an adapter, evaluate base vs adapter on every task family, "
                                   "gate and report. Offline, on one CPU core.")
    p.add_argument("--out", type=user_path, default="demo", help="folder for everything (default demo/)")
    p.add_argument("--quick", action="store_true", help="a smaller world and a shorter training (for smoke tests)")
    p.add_argument("--seed", type=int, default=0,
                   help="the world's and the training's seed (default 0, the shipped base's; another seed pre-trains "
                        "a base on this CPU)")
    p.set_defaults(func=command)


def command(a) -> int:
    from harness.demo import script as demo
    from harness.demo import shipped

    # Both read once, when their library is imported: set before anything imports tqdm or torch.
    os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval's progress bars stay off
    for key, value in shipped.portable_kernels().items():
        os.environ.setdefault(key, value)
    from harness.core.paths import out_problem

    problem = out_problem(a.out, "--out", owned=demo.WRITES, force=False, protected={}, what="a demo")
    if problem:
        raise HarnessError(problem)
    return demo.run(a.out, quick=a.quick, seed=a.seed)

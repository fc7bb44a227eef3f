"""Planning a huge run: the client's time and peak memory to plan N inputs (discovery, names, collision checks).

Makes ``--count`` empty files named like images (``--folders`` folders; planning
never opens an image file named like one) and plans 2x2 max pooling of the tree
into an output folder, as ``poolcli max ROOT -r -o OUT/`` does before any work.
Each ``--repeat`` round runs in a fresh Python process, which reports its peak
resident memory (``ru_maxrss``) after importing poolcli and after planning; the
difference, per input, is what a plan holds per job.

``--compare DIR`` plans the same tree with the poolcli of another checkout in
alternate rounds (a before and an after under the same load).

Run:  python benchmarks/plan_bench.py --count 100000 --repeat 3 [--compare /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
import poolcli
from poolcli import batch
from poolcli.pipeline import Pooling
from poolcli.spec import PoolSpec

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

root, out = sys.argv[1], sys.argv[2]
operation = Pooling(PoolSpec.make("max", 2))
before = rss_mib()
start = time.perf_counter()
plan = batch.plan([root], operation, batch.Outputs(out + "/"), batch.RunOptions(recursive=True))
seconds = time.perf_counter() - start
print(json.dumps({"poolcli": poolcli.__file__, "jobs": len(plan.jobs), "seconds": seconds, "rss_before": before, "rss_after": rss_mib()}))
"""


def make_tree(root: Path, count: int, folders: int) -> None:
    per = -(-count // folders)
    made = 0
    for f in range(folders):
        folder = root / f"d{f:04d}"
        folder.mkdir(parents=True)
        for i in range(min(per, count - made)):
            (folder / f"img{i:06d}.jpg").touch()
        made += min(per, count - made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", action="append", default=[], metavar="DIR", help="another checkout to plan with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="poolcli-plan-bench-") as tmp:
        root = Path(tmp) / "in"
        t0 = time.perf_counter()
        make_tree(root, args.count, args.folders)
        print(f"{args.count} empty .jpg files in {args.folders} folders made in {time.perf_counter() - t0:.1f} s")
        checkouts = [str(ROOT), *args.compare]
        rounds: dict[str, list[dict]] = {c: [] for c in checkouts}
        for _ in range(args.repeat):  # interleaved: a change in the machine's load hits every checkout alike
            for checkout in checkouts:
                env = {**os.environ, "PYTHONPATH": checkout}
                # run in the scratch folder: "-c" puts the working folder first on sys.path
                proc = subprocess.run([sys.executable, "-c", CHILD, str(root), str(Path(tmp) / "out")], env=env,
                                      cwd=tmp, capture_output=True, text=True, check=True)  # fmt: skip
                rounds[checkout].append(json.loads(proc.stdout))
        for checkout, runs in rounds.items():
            assert all(r["jobs"] == args.count and r["poolcli"].startswith(checkout) for r in runs), runs
            seconds = statistics.median(r["seconds"] for r in runs)
            before = statistics.median(r["rss_before"] for r in runs)
            grown = statistics.median(r["rss_after"] - r["rss_before"] for r in runs)
            each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
            print(f"{checkout}: plan of {args.count} inputs: {seconds:.2f} s ({args.count / seconds:,.0f} inputs/s), "
                  f"peak RSS {before:.0f} MiB after imports -> +{grown:.0f} MiB for the plan "
                  f"({grown * 1024 * 1024 / args.count:,.0f} bytes per input); median of {args.repeat} fresh "
                  f"processes (seconds: {each})")  # fmt: skip


if __name__ == "__main__":
    main()

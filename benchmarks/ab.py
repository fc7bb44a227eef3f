"""This checkout's poolcli against another commit's, in one process, in interleaved rounds.

The other commit's ``poolcli`` package is extracted with ``git archive`` into a
temporary folder and imported as ``poolcli_old`` (its imports are relative),
so both run on the same arrays, in the same process, round after round: a
burst of load elsewhere hits both alike, which two separate runs of bench.py
cannot promise on a shared machine.

    python benchmarks/ab.py --old 6a14949              # max, min, avg at k=2 and k=3 s=2
    python benchmarks/ab.py --old 6a14949 --rounds 15 --sizes 4096x4096x3
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

import poolcli  # noqa: E402

CASES = (("max", 2, 2), ("max", 3, 2), ("min", 2, 2), ("min", 3, 2), ("avg", 2, 2), ("avg", 3, 2))


def load_old(commit: str, folder: Path):
    blob = subprocess.run(["git", "archive", commit, "poolcli"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")
        else:  # Python before 3.11.4: our own repository's files
            tar.extractall(folder)
    (folder / "poolcli").rename(folder / "poolcli_old")
    sys.path.insert(0, str(folder))
    return importlib.import_module("poolcli_old")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the commit to compare with")
    parser.add_argument("--sizes", default="4096x4096x3,4096x4096,4096x4096x3:uint16")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(args.old, Path(tmp))
        rng = np.random.default_rng(0)
        print(f"this checkout vs {args.old}; median of {args.rounds} interleaved rounds; columns: median ms, best ms")
        for item in args.sizes.split(","):
            dims, _, dtype = item.partition(":")
            shape = tuple(int(v) for v in dims.split("x"))
            info = np.iinfo(dtype or "uint8")
            image = rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype or "uint8")
            dst = np.empty_like(image)
            half = (shape[1] // 2, shape[0] // 2)
            methods = {
                "memory floor (np.copyto)": lambda image=image, dst=dst: np.copyto(dst, image),
                "OpenCV INTER_AREA halving": lambda image=image, half=half: cv2.resize(
                    image, half, interpolation=cv2.INTER_AREA
                ),
            }
            for op, k, s in CASES:
                methods[f"new {op} k={k} s={s}"] = lambda image=image, op=op, k=k, s=s: poolcli.pool(image, op, k, s)
                methods[f"old {op} k={k} s={s}"] = lambda image=image, op=op, k=k, s=s: old.pool(image, op, k, s)
            for fn in methods.values():
                fn()
            times: dict[str, list[float]] = {name: [] for name in methods}
            for _ in range(args.rounds):
                for name, fn in methods.items():
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
            load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
            print(f"\n{dims} {np.dtype(dtype or 'uint8').name} (load average {load})")
            for name, ts in times.items():
                note = ""
                if name.startswith("new "):
                    note = f"  new/old {med[name] / med['old ' + name[4:]]:.2f}x"
                    if name.startswith("new avg k=2"):
                        note += f", new/INTER_AREA {med[name] / med['OpenCV INTER_AREA halving']:.2f}x"
                print(f"  {name:<28}{med[name]:9.2f} ms {min(ts) * 1e3:9.2f} ms{note}", flush=True)


if __name__ == "__main__":
    main()

"""Peak memory of poolcli.pool on a large image (Linux: reads /proc/self/status).

Each op runs in a fresh process: the image is made, the process's peak
resident set (VmHWM) is reset through /proc/self/clear_refs, the image is
pooled once, and the new peak is compared with the resident set just before
the call and with the size of the image.

    python benchmarks/peak_memory.py                       # 16384 x 16384 RGB uint8 (768 MiB), k=2
    python benchmarks/peak_memory.py --size 8192x8192x3 --ops avg --kernel 3 --stride 2
    python benchmarks/peak_memory.py --size 4096x4096x3 --ops global-avg,adaptive-avg@64x64,adaptive-avg@1000x750

An op is max, avg or min (``pool`` with --kernel/--stride), ``global-REDUCE``
or ``adaptive-REDUCE@HxW``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(shape: tuple[int, ...], dtype: str, op: str, kernel: int, stride: int) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import poolcli

    run = operation(poolcli, op, kernel, stride)
    run(np.zeros((8, 8, 3), np.uint8))  # import torch and warm up outside the measurement
    image = np.empty(shape, dtype)
    rows = np.arange(shape[0], dtype=np.uint32)[:, None] * 7 + np.arange(shape[1], dtype=np.uint32)[None, :] * 13
    image.reshape(shape[0], shape[1], -1)[...] = (rows % 251).astype(dtype)[:, :, None]
    del rows
    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    out = np.asarray(run(image))
    seconds = time.perf_counter() - t0
    peak = status_kib("VmHWM")
    print(json.dumps({"before": before, "peak": peak, "seconds": seconds, "in": image.nbytes, "out": out.nbytes}))


def operation(poolcli, op: str, kernel: int, stride: int):
    """The call an op names: pool, global-REDUCE or adaptive-REDUCE@HxW."""
    if op.startswith("global-"):
        return lambda image: poolcli.global_pool(image, op.partition("-")[2])
    if op.startswith("adaptive-"):
        reduce, _, size = op.partition("-")[2].partition("@")
        rows, cols = (int(v) for v in size.lower().split("x"))
        return lambda image: poolcli.adaptive_pool(image, (rows, cols), reduce)
    return lambda image: poolcli.pool(image, op, kernel=kernel, stride=stride)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="16384x16384x3", help="HxW[xC] (default 16384x16384x3)")
    parser.add_argument("--dtype", default="uint8")
    parser.add_argument("--ops", default="max,avg,min")
    parser.add_argument("--kernel", type=int, default=2)
    parser.add_argument("--stride", type=int)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.size.lower().split("x"))
    stride = args.stride or args.kernel
    if args.child:
        child(shape, args.dtype, args.child, args.kernel, stride)
        return
    mib = 2**20
    print(f"{args.size} {args.dtype}, kernel {args.kernel}, stride {stride}; one fresh process per op")
    print(
        f"{'op':<24}{'input':>10}{'output':>10}{'RSS before':>12}{'peak RSS':>10}{'extra':>10}{'peak/input':>12}{'time':>9}{'extra/in':>10}"
    )
    for op in args.ops.split(","):
        cmd = [sys.executable, __file__, "--size", args.size, "--dtype", args.dtype, "--kernel", str(args.kernel)]
        cmd += ["--stride", str(stride), "--child", op]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        before, peak = result["before"] * 1024, result["peak"] * 1024
        print(
            f"{op:<24}{result['in'] / mib:>8.0f}Mi{result['out'] / mib:>8.0f}Mi{before / mib:>10.0f}Mi{peak / mib:>8.0f}Mi"
            f"{(peak - before) / mib:>8.0f}Mi{peak / result['in']:>11.2f}x{result['seconds']:>8.2f}s"
            f"{(peak - before) / result['in']:>10.2f}x"
        )
    print("extra = peak RSS during pool() - RSS just before it (image, torch and Python already resident)")


if __name__ == "__main__":
    main()

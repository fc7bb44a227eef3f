"""Peak memory of drawing a comparison figure of a large image (Linux: reads /proc/self/status).

Each case runs in a fresh process: the image is made and pooled first, the
process's peak resident set (VmHWM) is reset through /proc/self/clear_refs,
then the figure is drawn to PNG bytes (``make_figure`` + ``figure_png``), and
the growth of the peak over the resident set just before is printed, next to
the size of the image.

    python benchmarks/figure_memory.py                    # 9000 x 9000 RGB uint8
    python benchmarks/figure_memory.py --size 4000x6000x3 --cases compare
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: what is drawn: the figure of ``poolcli max --compare`` and of ``poolcli compare`` (with and without --diff)
CASES = {
    "max --compare": {"ops": None},
    "compare": {"ops": ("max", "avg", "min", "adaptive")},
    "compare --diff": {"ops": ("max", "avg", "min", "adaptive"), "diff": True},
}


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(shape: tuple[int, ...], case: str) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import poolcli
    from poolcli.figures import FigureStyle, figure_png, make_figure, original_panel, result_panel
    from poolcli.pipeline import comparison, comparison_grid

    rows = np.arange(shape[0], dtype=np.uint32)[:, None] * 7 + np.arange(shape[1], dtype=np.uint32)[None, :] * 13
    image = np.empty(shape, np.uint8)
    image.reshape(shape[0], shape[1], -1)[...] = (rows % 251).astype(np.uint8)[:, :, None]
    del rows
    spec = CASES[case]
    if spec["ops"] is None:
        grid = [[original_panel(image), result_panel(poolcli.pool(image, "max"), "max k=2 s=2")]]
    else:
        grid = comparison_grid(image, comparison(spec["ops"], diff=spec.get("diff", False)))
    figure_png(make_figure([[original_panel(np.zeros((8, 8, 3), np.uint8))]]))  # load matplotlib's fonts first
    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    png = figure_png(make_figure(grid, FigureStyle()))
    seconds = time.perf_counter() - t0
    peak = status_kib("VmHWM")
    print(json.dumps({"before": before, "peak": peak, "seconds": seconds, "image": image.nbytes, "png": len(png)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="9000x9000x3", help="HxW[xC] (default 9000x9000x3)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.size.lower().split("x"))
    if args.child:
        child(shape, args.child)
        return
    print(
        f"figure of a {'x'.join(map(str, shape))} uint8 image ({shape[0] * shape[1] * (shape[2] if len(shape) > 2 else 1) / 2**20:.0f} MiB)"
    )
    for case in args.cases.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--size", args.size, "--child", case], capture_output=True, text=True, check=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        grown = (r["peak"] - r["before"]) / 1024
        print(
            f"{case:16s} drawing took {r['seconds']:5.1f} s, peak memory grew {grown:7.0f} MiB "
            f"({grown * 2**20 / r['image']:.1f}x the image); figure {r['png'] / 1e3:.0f} kB"
        )


if __name__ == "__main__":
    main()

"""Time poolcli.pool against the other ways to pool an image in Python, on the CPU.

Every method gets the same NumPy image and must return a NumPy image of the
same dtype (conversions in and out are part of its time). Methods are timed in
interleaved rounds after a warm-up, so a burst of load elsewhere hits them all
alike; the table gives the median. Each output is checked against poolcli's:
``same``, ``differs (half-up rounding)`` where only ties of an average differ
by one (OpenCV and Pillow round half up; poolcli, like torch.round, half to
even), or ``DIFFERS`` with the largest difference.

    python benchmarks/bench.py                   # the full table (a few minutes)
    python benchmarks/bench.py --quick           # 1024^2 and 4096^2 RGB uint8, fewer rounds
    python benchmarks/bench.py --sizes 4096x4096x3:uint16 --ops max --kernels 2:2
    python benchmarks/bench.py --beyond --threads 1  # median, lp, blur ... against their nearest alternatives
    python benchmarks/bench.py --ops avg --kernels 2:2,4:4,2x3:2x3 --no-reductions
    python benchmarks/bench.py --only-reductions  # global and adaptive on 4096^2 RGB uint8

After the pooling cases come global and adaptive pooling (``--reductions SIZES``,
default 4096x4096x3), against one read (``img.max()``), one copy (``np.copyto``),
``cv2.sumElems``, OpenCV's INTER_AREA resize and torch's float
``adaptive_avg_pool2d``, each row with the issue's target beside its ratio and
the peak NumPy memory one call allocated (tracemalloc) over the input's size.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import torch
import torch.nn.functional as F

import poolcli
from poolcli.spec import PoolSpec

DEFAULT_SIZES = "1024x1024x3,4096x4096x3,4096x4096,4096x4096x3:uint16"
QUICK_SIZES = "1024x1024x3,4096x4096x3"
DEFAULT_REDUCTIONS = "4096x4096x3"
Method = Callable[[np.ndarray], np.ndarray]
Pair = tuple[int, int]


def fmt(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def kind_of(shape: tuple[int, ...]) -> str:
    return "gray" if len(shape) == 2 else ("RGB" if shape[2] == 3 else f"{shape[2]}ch")


@dataclass(frozen=True)
class Case:
    shape: tuple[int, ...]
    dtype: np.dtype
    op: str
    kernel: Pair
    stride: Pair

    def label(self) -> str:
        hw = f"{self.shape[0]}x{self.shape[1]}"
        return f"{hw} {kind_of(self.shape)} {self.dtype.name}  {self.op} k={fmt(self.kernel)} s={fmt(self.stride)}"


def parse_sizes(text: str) -> list[tuple[tuple[int, ...], np.dtype]]:
    sizes = []
    for item in text.split(","):
        dims, _, dtype = item.strip().partition(":")
        shape = tuple(int(v) for v in dims.lower().split("x"))
        sizes.append((shape, np.dtype(dtype or "uint8")))
    return sizes


def parse_kernels(text: str) -> list[tuple[Pair, Pair]]:
    """``2:2,3:2,2x3:2x3`` -> [((2, 2), (2, 2)), ...] (kernel:stride, each N or HxW)."""

    def pair(v: str) -> Pair:
        a, _, b = v.lower().partition("x")
        return (int(a), int(b or a))

    return [(pair(k), pair(s)) for k, s in (item.split(":") for item in text.split(","))]


# --- the methods ------------------------------------------------------------------------------


def floor_method(image: np.ndarray) -> Method:
    """One read-and-write pass over the image: np.copyto into a buffer made once."""
    dst = np.empty_like(image)
    return lambda x: np.copyto(dst, x)  # type: ignore[return-value]


def poolcli_method(case: Case) -> Method:
    return lambda x: poolcli.pool(x, case.op, kernel=case.kernel, stride=case.stride)


def torch_method(case: Case) -> Method:
    """The obvious path: NCHW float32, torch's pooling, round, back to the dtype."""
    k, s = case.kernel, case.stride
    info = np.iinfo(case.dtype)

    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.atleast_3d(x)).permute(2, 0, 1).unsqueeze(0).float()
        if case.op == "max":
            y = F.max_pool2d(t, k, s)
        elif case.op == "min":
            y = -F.max_pool2d(-t, k, s)
        else:
            y = F.avg_pool2d(t, k, s).round_()
        y = y.clamp_(info.min, info.max).to(torch.int32 if case.dtype == np.uint16 else getattr(torch, case.dtype.name))
        out = y[0].permute(1, 2, 0).numpy().astype(case.dtype)
        return out[:, :, 0] if x.ndim == 2 else out

    return run


def opencv_method(case: Case, out_hw: tuple[int, int]) -> Method | None:
    """dilate/erode then a strided slice for max/min; resize(INTER_AREA) or blur + slice for avg."""
    (kh, kw), (sh, sw) = case.kernel, case.stride
    oh, ow = out_hw
    if case.op == "avg":
        if case.kernel == case.stride:  # the whole windows only, so the scale is an integer
            return lambda x: cv2.resize(x[: oh * kh, : ow * kw], (ow, oh), interpolation=cv2.INTER_AREA)
        # a kh x kw box anchored at its top-left cell, then every s-th cell
        return lambda x: np.ascontiguousarray(cv2.blur(x, (kw, kh), anchor=(0, 0))[::sh, ::sw][:oh, :ow])
    element = np.ones((kh, kw), np.uint8)
    morph = cv2.dilate if case.op == "max" else cv2.erode
    # anchor (0, 0): cell (r, c) of the result reduces rows r..r+kh-1 and columns c..c+kw-1
    return lambda x: np.ascontiguousarray(morph(x, element, anchor=(0, 0))[::sh, ::sw][:oh, :ow])


def numpy_method(case: Case, out_hw: tuple[int, int]) -> Method:
    """reshape and reduce for k = s; separable strided slices otherwise."""
    (kh, kw), (sh, sw) = case.kernel, case.stride
    oh, ow = out_hw

    def rounded(total: np.ndarray, count: int) -> np.ndarray:
        return np.rint(total / count).astype(case.dtype)  # rint is half to even

    if case.kernel == case.stride:

        def run(x: np.ndarray) -> np.ndarray:
            x3 = np.atleast_3d(x)[: oh * kh, : ow * kw]
            blocks = x3.reshape(oh, kh, ow, kw, x3.shape[2])
            if case.op == "avg":
                out = rounded(blocks.sum(axis=(1, 3), dtype=np.int64), kh * kw)
            else:
                out = blocks.max(axis=(1, 3)) if case.op == "max" else blocks.min(axis=(1, 3))
            return out[:, :, 0] if x.ndim == 2 else out

        return run

    def run_strided(x: np.ndarray) -> np.ndarray:
        if case.op == "avg":
            x = x.astype(np.int32)
            rows = sum(x[i : i + (oh - 1) * sh + 1 : sh] for i in range(kh))
            total = sum(rows[:, j : j + (ow - 1) * sw + 1 : sw] for j in range(kw))
            return rounded(total, kh * kw)
        fn = np.maximum if case.op == "max" else np.minimum
        rows = fn.reduce([x[i : i + (oh - 1) * sh + 1 : sh] for i in range(kh)])
        return fn.reduce([rows[:, j : j + (ow - 1) * sw + 1 : sw] for j in range(kw)])

    return run_strided


def skimage_method(case: Case) -> Method | None:
    """skimage.measure.block_reduce: non-overlapping blocks only (k = s)."""
    if case.kernel != case.stride:
        return None
    from skimage.measure import block_reduce

    kh, kw = case.kernel
    func = {"max": np.max, "min": np.min, "avg": np.mean}[case.op]

    def run(x: np.ndarray) -> np.ndarray:
        x = x[: x.shape[0] // kh * kh, : x.shape[1] // kw * kw]  # whole blocks only, as pooling
        block = (kh, kw) if x.ndim == 2 else (kh, kw, 1)
        out = block_reduce(x, block, func)
        return np.rint(out).astype(case.dtype) if case.op == "avg" else out

    return run


def pillow_method(case: Case) -> Method | None:
    """Image.reduce: a box average for k = s, 8-bit gray or RGB only."""
    if case.op != "avg" or case.kernel != case.stride or case.dtype != np.uint8:
        return None
    from PIL import Image

    kh, kw = case.kernel
    # whole boxes only (Pillow would average the partial ones at the edge too)
    return lambda x: np.asarray(Image.fromarray(x[: x.shape[0] // kh * kh, : x.shape[1] // kw * kw]).reduce((kw, kh)))


# --- timing and checking -----------------------------------------------------------------------


def check(got: np.ndarray, want: np.ndarray, op: str) -> str:
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"DIFFERS (shape {got.shape} {got.dtype})"
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    worst = int(diff.max())
    if worst == 0:
        return "same"
    if op == "avg" and worst == 1:
        return f"differs (half-up rounding, {np.count_nonzero(diff) / diff.size:.1%} of cells)"
    return f"DIFFERS (max |d| = {worst})"


def time_methods(
    image: np.ndarray, methods: dict[str, Method], rounds: int, warmup: int
) -> dict[str, tuple[float, float]]:
    """Median and best milliseconds of each method, timed in interleaved rounds."""
    for fn in methods.values():
        for _ in range(warmup):
            fn(image)
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn(image)
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(ts) * 1e3, min(ts) * 1e3) for name, ts in times.items()}


def make_image(shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


def run_case(case: Case, image: np.ndarray, rounds: int, warmup: int, slow_rounds: int) -> list[str]:
    spec = PoolSpec.make(case.op, case.kernel, case.stride)
    out_hw = spec.output_size(image.shape[0], image.shape[1])
    fast: dict[str, Method | None] = {
        "memory floor (np.copyto)": floor_method(image),
        "poolcli.pool": poolcli_method(case),
        "OpenCV": opencv_method(case, out_hw),
        "Pillow reduce": pillow_method(case),
    }
    slow: dict[str, Method | None] = {
        "PyTorch NCHW float32": torch_method(case),
        "NumPy": numpy_method(case, out_hw),
        "skimage block_reduce": skimage_method(case),
    }
    fast_ok = {k: v for k, v in fast.items() if v is not None}
    slow_ok = {k: v for k, v in slow.items() if v is not None}
    ms = time_methods(image, fast_ok, rounds, warmup)
    ms.update(time_methods(image, slow_ok, slow_rounds, 1))
    ours = poolcli.pool(image, case.op, kernel=case.kernel, stride=case.stride)
    floor, mine = ms["memory floor (np.copyto)"][0], ms["poolcli.pool"][0]
    lines = [f"{case.label()}"]
    for name in [*fast, *slow]:
        fn = fast_ok.get(name) or slow_ok.get(name)
        if fn is None:
            continue
        t, best = ms[name]
        if name.startswith("memory floor") or name == "poolcli.pool":
            verdict, vs = "", ""
        else:
            verdict = check(fn(image), ours, case.op)
            vs = f"{t / mine:8.1f}x"
        lines.append(f"  {name:<26}{t:9.2f} ms {best:9.2f} ms {t / floor:7.1f}x {vs:>9}  {verdict}")
    if case.op == "avg":
        lines.append(avg_target(case, {k: ms[k][0] for k in ("OpenCV", "Pillow reduce") if k in ms}, mine))
    return lines


def avg_target(case: Case, rivals: dict[str, float], mine: float) -> str:
    """Issue 14's average target beside its ratio: k=2 at most 1.0x INTER_AREA, every case at most 1.5x the nearest rival."""
    if not rivals:
        return "  target: no OpenCV or Pillow equivalent for this case"
    name = min(rivals, key=rivals.__getitem__)
    ratio = mine / rivals[name]
    limit = 1.0 if case.kernel == case.stride == (2, 2) else 1.5
    verdict = "met" if ratio <= limit else "MISSED"
    return f"  poolcli / {name} (the faster rival): {ratio:.2f}x, target <= {limit:g}x: {verdict}"


# --- global and adaptive ------------------------------------------------------------------------

#: (row label, method builder, yardstick row, target ratio) for the reductions section.
ADAPTIVE_SIZES = ((64, 64), (1000, 750))


def torch_adaptive_method(size: Pair) -> Method:
    """torch's own path: NCHW float32, F.adaptive_avg_pool2d, round, back to the dtype."""

    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.atleast_3d(x)).permute(2, 0, 1).unsqueeze(0).float()
        y = F.adaptive_avg_pool2d(t, size).round_().to(getattr(torch, x.dtype.name))
        out = y[0].permute(1, 2, 0).numpy()
        return out[:, :, 0] if x.ndim == 2 else out

    return run


def peak_numpy_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes NumPy (and Python) allocated during one call, by tracemalloc."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_reductions(image: np.ndarray, rounds: int, warmup: int) -> list[str]:
    """Global and adaptive pooling against a read, a copy, cv2.sumElems, INTER_AREA and torch."""
    read: Method = lambda x: x.max()  # noqa: E731
    rows: list[tuple[str, Method, str | None, float | None, Callable[[], np.ndarray] | None]] = [
        ("memory floor (np.copyto)", floor_method(image), None, None, None),
        ("one read (img.max())", read, None, None, None),
        ("cv2.sumElems", cv2.sumElems, None, None, None),
    ]
    for reduce in ("avg", "max", "min"):
        rows.append((f"poolcli global {reduce}", lambda x, r=reduce: poolcli.global_pool(x, r), "read", 2.0, None))
    for size in ADAPTIVE_SIZES:
        label = f"{size[0]}x{size[1]}"
        mine = lambda x, s=size: poolcli.adaptive_pool(x, s)  # noqa: E731
        rows.append((f"poolcli adaptive avg {label}", mine, "copy", 3.0, None))
        rows.append((f"  torch adaptive_avg_pool2d float {label}", torch_adaptive_method(size), None, None, None))
        area = lambda x, s=size: cv2.resize(x, (s[1], s[0]), interpolation=cv2.INTER_AREA)  # noqa: E731
        rows.append((f"  OpenCV INTER_AREA {label}", area, None, None, None))
        for reduce in ("max", "min"):
            rows.append(
                (f"poolcli adaptive {reduce} {label}", lambda x, s=size, r=reduce: poolcli.adaptive_pool(x, s, r),
                 "copy", 3.0, None)
            )  # fmt: skip
    methods = {name: fn for name, fn, *_ in rows}
    ms = time_methods(image, methods, rounds, warmup)
    floor, one_read = ms["memory floor (np.copyto)"][0], ms["one read (img.max())"][0]
    lines = [f"{image.shape[0]}x{image.shape[1]} {kind_of(image.shape)} {image.dtype.name}  global and adaptive"]
    reference_out: dict[str, np.ndarray] = {}
    for name, fn, yard, target, _ in rows:
        t, best = ms[name]
        note = ""
        if yard is not None and target is not None:
            base = one_read if yard == "read" else floor
            ratio = t / base
            verdict = "met" if ratio <= target else "MISSED"
            peak = peak_numpy_bytes(lambda fn=fn: fn(image)) / image.nbytes
            note = (
                f"{ratio:5.2f}x {'img.max()' if yard == 'read' else 'copy'}, target <= {target:g}x: {verdict};"
                f" peak alloc {peak:.2f}x input"
            )
            if name.startswith("poolcli adaptive avg"):
                reference_out[name.rsplit(" ", 1)[1]] = fn(image)
        elif name.startswith("  "):
            label = name.rsplit(" ", 1)[1]
            mine = reference_out.get(label)
            note = "" if mine is None else check(np.asarray(fn(image)), mine, "avg")
        lines.append(f"  {name:<40}{t:9.2f} ms {best:9.2f} ms  {note}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help=f"HxW[xC][:dtype],... (default {DEFAULT_SIZES})")
    parser.add_argument("--ops", default="max,avg,min")
    parser.add_argument("--kernels", default="2:2,3:2", help="k:s pairs (default 2:2,3:2)")
    parser.add_argument("--rounds", type=int, help="timed rounds per method (default 15, --quick 5)")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, fewer rounds")
    parser.add_argument("--threads", type=int, help="torch and OpenCV threads (default: their own)")
    parser.add_argument("--beyond", action="store_true",
                        help="only the ops beyond max, avg and min, each against its nearest alternative "
                        "(default size 2048x2048x3 uint8)")  # fmt: skip
    parser.add_argument(
        "--reductions", default=DEFAULT_REDUCTIONS, help=f"sizes for global/adaptive (default {DEFAULT_REDUCTIONS})"
    )
    parser.add_argument("--no-reductions", action="store_true", help="skip the global/adaptive section")
    parser.add_argument("--only-reductions", action="store_true", help="only the global/adaptive section")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    if args.beyond:
        beyond_main(args)
        return
    sizes = parse_sizes(args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    rounds = args.rounds or (5 if args.quick else 15)
    slow_rounds = max(1, rounds // 5)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, OpenCV {cv2.__version__}"
    )
    print(f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}")
    print(f"median of {rounds} interleaved rounds ({slow_rounds} for PyTorch/NumPy/skimage) after warm-up")
    print("columns: median ms, best ms, median / floor's, median / poolcli's (above 1: poolcli is faster), check")
    rng = np.random.default_rng(0)
    for shape, dtype in [] if args.only_reductions else sizes:
        image = make_image(shape, dtype, rng)
        for op in args.ops.split(","):
            for k, s in parse_kernels(args.kernels):
                print()
                print("\n".join(run_case(Case(shape, dtype, op, k, s), image, rounds, 1, slow_rounds)), flush=True)
    if args.no_reductions:
        return
    for shape, dtype in parse_sizes(args.reductions):
        print()
        print("\n".join(run_reductions(make_image(shape, dtype, rng), rounds, 1)), flush=True)


# --- beyond max, avg and min ---------------------------------------------------------------------
#
# Each new op on an RGB uint8 image against the nearest thing a user would reach for: kornia's
# blur pools and median_blur (plus subsampling), PyTorch's lp_pool2d and fractional_max_pool2d,
# scikit-image's block_reduce(np.median), and, where nothing ships the op, the formula written
# with torch ops. The alternatives work on float32 NCHW tensors, as those libraries want; turning
# the uint8 image into one and the result back (rounded, clipped) is part of their time, as
# everywhere in this file.

BEYOND_SIZE = "2048x2048x3"


def _to_float(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(2, 0, 1)[None].float()


def _to_uint8(y: torch.Tensor) -> np.ndarray:
    return y.round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous().numpy()


def beyond_cases() -> list[tuple[str, Method, str, Method, str]]:
    """(label, poolcli, alternative's name, alternative, what the check compares)."""
    import kornia
    from skimage.measure import block_reduce

    from poolcli.pooling import fractional_samples

    samples = torch.from_numpy(fractional_samples(0, 3)).float()[None]

    def softpool_formula(x: np.ndarray) -> np.ndarray:  # the SoftPool paper's plain PyTorch version
        t = _to_float(x) / 255
        e = torch.exp(t)
        return _to_uint8(F.avg_pool2d(t * e, 2) / F.avg_pool2d(e, 2) * 255)

    def stochastic_formula(x: np.ndarray) -> np.ndarray:  # the expected value, sum(a^2) / sum(a)
        t = _to_float(x)
        return _to_uint8(torch.nan_to_num(F.avg_pool2d(t * t, 2) / F.avg_pool2d(t, 2)))

    def max_indices(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, i = F.max_pool2d(_to_float(x), 2, return_indices=True)
        return _to_uint8(y), i[0].permute(1, 2, 0).numpy()

    def unpooled(x: np.ndarray) -> np.ndarray:
        y, i = F.max_pool2d(_to_float(x), 2, return_indices=True)
        return _to_uint8(F.max_unpool2d(y, i, 2, output_size=x.shape[:2]))

    return [
        ("median k=2 (even: mean)", lambda x: poolcli.pool(x, "median", 2, even="mean"),
         "skimage block_reduce(np.median)", lambda x: np.rint(block_reduce(x, (2, 2, 1), np.median)).astype(np.uint8),
         "all"),
        ("median k=3 s=2 p=1", lambda x: poolcli.pool(x, "median", 3, 2, 1),
         "kornia median_blur(3)[::2, ::2]", lambda x: _to_uint8(kornia.filters.median_blur(_to_float(x), 3)[:, :, ::2, ::2]),
         "inside"),
        ("lp p=2 k=2", lambda x: poolcli.pool(x, "lp", 2),
         "torch lp_pool2d", lambda x: _to_uint8(F.lp_pool2d(_to_float(x), 2, 2)), "all"),
        ("blur k=3 s=2 (zero)", lambda x: poolcli.pool(x, "blur", 3, pad_mode="zero"),
         "kornia blur_pool2d", lambda x: _to_uint8(kornia.filters.blur_pool2d(_to_float(x), 3)), "all"),
        ("blur k=3 s=2 (reflect)", lambda x: poolcli.pool(x, "blur", 3),
         "kornia blur_pool2d (zero)", lambda x: _to_uint8(kornia.filters.blur_pool2d(_to_float(x), 3)), "inside"),
        ("maxblur k=3 s=2 m=2 (zero)", lambda x: poolcli.pool(x, "maxblur", 3, pad_mode="zero"),
         "kornia max_blur_pool2d", lambda x: _to_uint8(kornia.filters.max_blur_pool2d(_to_float(x), 3)), "all"),
        ("fractional k=2 ratio 0.5", lambda x: poolcli.pool(x, "fractional", 2, ratio=0.5),
         "torch fractional_max_pool2d", lambda x: _to_uint8(F.fractional_max_pool2d(
             _to_float(x), 2, output_ratio=(0.5, 0.5), _random_samples=samples)), "all"),
        ("softpool k=2", lambda x: poolcli.pool(x, "softpool", 2),
         "torch formula (exp, avg_pool2d)", softpool_formula, "all"),
        ("stochastic k=2 (expected)", lambda x: poolcli.pool(x, "stochastic", 2),
         "torch formula (avg_pool2d)", stochastic_formula, "all"),
        ("stochastic k=2 (sample)", lambda x: poolcli.pool(x, "stochastic", 2, mode="sample"),
         "torch formula (expected)", stochastic_formula, "none"),
        ("max k=2 return_indices", lambda x: poolcli.pool(x, "max", 2, return_indices=True),
         "torch max_pool2d(return_indices)", max_indices, "all"),
        ("unpool k=2", lambda x: poolcli.pool(x, "unpool", 2),
         "torch max_pool2d + max_unpool2d", unpooled, "all"),
    ]  # fmt: skip


def beyond_check(got: object, want: object, where: str) -> str:
    """``same``, or how far apart; ``inside`` leaves out the outermost rows and columns (padding differs)."""
    if where == "none":
        return "(a different op: time only)"
    pairs = list(zip(got, want)) if isinstance(got, tuple) else [(got, want)]
    notes = []
    for a, b in pairs:
        if where == "inside":
            a, b = a[1:-1, 1:-1], b[1:-1, 1:-1]
        if a.shape != b.shape:
            return f"DIFFERS (shape {a.shape} vs {b.shape})"
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
        if diff.max() == 0:
            notes.append("same" + (" inside (edges padded differently)" if where == "inside" else ""))
        else:
            notes.append(f"differs by up to {diff.max()} in {np.count_nonzero(diff)} of {diff.size} cells")
    return ", ".join(notes)


def beyond_main(args: argparse.Namespace) -> None:
    rounds = args.rounds or 7
    print(f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}")
    print(f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; median of {rounds} interleaved rounds")
    print("ratio = alternative's median time / poolcli's (above 1: poolcli is faster)")
    for shape, dtype in parse_sizes(args.sizes or BEYOND_SIZE):
        image = make_image(shape, dtype, np.random.default_rng(0))
        print(f"\n{'x'.join(map(str, shape))} {dtype.name}")
        print(f"  {'op':<28}{'poolcli':>10}  {'alternative':<34}{'alt':>10}{'ratio':>8}  check")
        for label, ours, name, theirs, where in beyond_cases():
            ms = time_methods(image, {"poolcli": ours, "alt": theirs}, rounds, 1)
            (mine, _), (alt, _) = ms["poolcli"], ms["alt"]
            verdict = beyond_check(ours(image), theirs(image), where)
            print(f"  {label:<28}{mine:8.1f}ms  {name:<34}{alt:8.1f}ms{alt / mine:8.2f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()

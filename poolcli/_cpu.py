"""CPU fast paths built on NumPy and OpenCV, used by :mod:`poolcli.pooling`.

Each function takes an (N, C, H, W) CPU tensor whose memory NumPy can view
(see :func:`planes`) and returns None, or False, when its case is not one it
handles; the caller then takes the general torch path. Results are exact in
the same sense as the torch path (integers equal to the NumPy reference).

* :func:`global_reduce`: per-channel max/min with NumPy, reducing over rows
  (the accumulator is one row, so it stays in L1 and the image is read once);
  exact integer sums with ``cv2.sumElems`` (8- and 16-bit, up to 4 channels)
  or NumPy in int64; float sums in float64 by torch's cascade sum.
* :func:`adaptive_into`: separable windows, rows then columns, on bands of
  output rows split between threads (NumPy releases the GIL). Rows: the
  windows come in runs of equal length and equal spacing (one run when the
  size divides), and tap t of a whole run is one strided view of the input,
  so a run costs one op per tap. Columns: neighbouring columns are paired by
  one contiguous op, then each tap is one gather of single values along the
  flattened rows (``np.take``), a zero column standing in for the taps a
  shorter window does not have, so no value is ever multiplied by a mask
  (``inf * 0`` would be NaN). Then one float division and ``np.rint`` (half
  to even), exact as in ``pooling._divide_into``.
* :func:`avg2_into`: 2x2 average with stride 2 on 8- and 16-bit images
  with 1, 3 or 4 channels. OpenCV's ``INTER_AREA`` halving computes
  ``(s + 2) >> 2`` for a window sum ``s`` (half up) in one vectorised pass;
  the same on the complemented image gives ``M - ((s + 1) >> 2)`` (``M``
  the dtype's maximum), i.e. the half-down quotient complemented. The two
  differ exactly at ties, and where the half-up quotient is odd at a tie
  both low bits are 1, so ``up - (up & down' & 1)`` is the half-to-even
  quotient. Whether this OpenCV build computes ``(s + 2) >> 2`` is checked
  once per process on a probe image (:func:`area2_is_half_up`); if not,
  the torch path is used.
* :func:`area_into`: any other average whose windows tile the image
  (kernel = stride, no padding) on 8- and 16-bit images: OpenCV's
  ``INTER_AREA`` at an integer scale sums each window exactly and rounds
  ``sum * (1.f / area)`` to nearest, ties to even (``cvRound``). That is the
  exact half-to-even mean when ``1 / area`` is exact in float (area a power
  of two) and when ties cannot happen (odd area) and the float error stays
  below the gap to the nearest half; :func:`area_is_exact` admits only those
  areas and checks this build on probe images once per process.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: Bytes of scratch per band (rows of partial sums, gathered taps, quotients).
BAND_BYTES = 8 << 20
#: Bytes of input rows per band of the 2x2 average: their complement is read
#: again right away, from L2 (1 MiB per core here); measured 2.3-2.4x OpenCV's
#: one-pass time with 256 KiB-1 MiB bands against 3.3x with 8 MiB (RGB,
#: benchmarks/README.md).
HALVING_BAND_BYTES = 1 << 20


# --- views -------------------------------------------------------------------------------------


def planes(x: torch.Tensor) -> list[tuple[int, slice, np.ndarray]] | None:
    """(image, channels, NumPy (H, W, c) view) pieces covering an (N, C, H, W) CPU tensor.

    A channels-last image is one piece with all its channels; otherwise each
    channel plane is a piece with one channel. Every piece has contiguous
    pixels (a row may be longer than W * c, as a slice leaves it). None when
    some piece has another layout or NumPy cannot view the dtype.
    """
    import torch

    n, c, _, w = x.shape
    if x.requires_grad or (x.dtype == torch.uint16 and not _numpy_views_uint16()):
        return None
    pieces: list[tuple[int, slice, np.ndarray]] = []
    if c > 1 and x.stride(1) == 1 and x.stride(3) == c:
        for i in range(n):
            view = x[i].permute(1, 2, 0).numpy()
            pieces.append((i, slice(0, c), view))
        return pieces
    if x.stride(3) != 1 and w > 1:
        return None
    for i in range(n):
        for ch in range(c):
            view = x[i, ch].numpy()[:, :, None]
            pieces.append((i, slice(ch, ch + 1), view))
    return pieces


@functools.cache
def _numpy_views_uint16() -> bool:
    import torch

    try:
        return torch.zeros(1, dtype=torch.uint16).numpy().dtype == np.uint16
    except (TypeError, RuntimeError):  # older torch: no uint16 <-> NumPy
        return False


def rows_contiguous(a: np.ndarray) -> bool:
    """Whether each row of an (H, W, c) view is one contiguous run of W * c values."""
    e = a.itemsize
    return (a.shape[2] == 1 or a.strides[2] == e) and (a.shape[1] == 1 or a.strides[1] == a.shape[2] * e)


# --- global ------------------------------------------------------------------------------------


def global_reduce(x: torch.Tensor, reduce: str) -> torch.Tensor | None:
    """(N, C) per-channel max, min (input dtype) or mean (float64) of a CPU tensor, or None."""
    import torch

    pieces = planes(x)
    if pieces is None or not all(rows_contiguous(p) for _, _, p in pieces):
        return None
    n, c = x.shape[0], x.shape[1]
    if reduce == "avg":
        out = np.empty((n, c), np.float64)
        count = x.shape[2] * x.shape[3]
        for i, chans, view in pieces:
            out[i, chans] = [total / count for total in _channel_sums(view)]  # int / int is correctly rounded
        return torch.from_numpy(out)
    out = np.empty((n, c), pieces[0][2].dtype)
    fn = np.maximum if reduce == "max" else np.minimum
    for i, chans, view in pieces:
        if view.shape[2] == 1:
            out[i, chans] = fn.reduce(view, axis=None)
        else:
            out[i, chans] = fn.reduce(fn.reduce(view, axis=0), axis=0)  # over rows: one row of accumulators
    return torch.from_numpy(out)


def _channel_sums(view: np.ndarray) -> list[int] | list[float]:
    """Exact per-channel sums of an (H, W, c) view: Python ints for integers, floats for floats."""
    import cv2
    import torch

    c = view.shape[2]
    if view.dtype in (np.uint8, np.int8, np.uint16, np.int16) and c <= 4:
        # OpenCV sums 8/16-bit values in int blocks flushed to float64: exact below 2**53,
        # far above any image here (65535 * 2**31 < 2**47).
        sums = cv2.sumElems(view if c > 1 else view[:, :, 0])
        return [round(s) for s in sums[:c]]
    if view.dtype.kind in "iu":
        rows = np.add.reduce(view, axis=0, dtype=np.int64)
        return [int(v) for v in rows.sum(axis=0, dtype=np.int64)]
    t = torch.from_numpy(view)
    return [float(v) for v in t.sum(dim=(0, 1), dtype=torch.float64)]  # torch's cascade sum, as before


# --- adaptive ----------------------------------------------------------------------------------


def windows(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive windows ``[floor(i*n/m), ceil((i+1)*n/m))`` along an axis of n cells, m outputs."""
    i = np.arange(m, dtype=np.int64)
    return (i * n) // m, -((-(i + 1) * n) // m)


def _sum_dtype(dtype: np.dtype, count: int) -> np.dtype | None:
    """Narrowest NumPy dtype holding a sum of ``count`` values of ``dtype`` exactly (None: none)."""
    if dtype.kind == "f":
        return np.dtype(np.float64)
    info = np.iinfo(dtype)
    hi, lo = int(info.max) * count, int(info.min) * count
    if lo == 0 and hi <= 65535:
        return np.dtype(np.uint16)
    if lo >= -(2**31) and hi < 2**31:
        return np.dtype(np.int32)
    if lo >= -(2**62) and hi < 2**62:
        return np.dtype(np.int64)
    return None


def _quotient_dtype(dtype: np.dtype, count: int) -> np.dtype | None:
    """Float dtype in which integer window sums divide exactly (see ``pooling._divide_into``)."""
    info = np.iinfo(dtype)
    largest = max(abs(int(info.min)), int(info.max)) * count
    if largest < 2**23 and count < 2**23:
        return np.dtype(np.float32)
    if largest < 2**52 and count < 2**52:
        return np.dtype(np.float64)
    return None


def adaptive_into(x: torch.Tensor, out: torch.Tensor, reduce: str, threads: int = 1) -> bool:
    """Adaptive pooling of CPU tensor ``x`` into ``out`` (N, C, oh, ow); False if not handled."""
    pieces, targets = planes(x), planes(out)
    if pieces is None or targets is None or len(pieces) != len(targets):
        return False
    if not all(rows_contiguous(p) for _, _, p in pieces) or not all(t.flags.c_contiguous for _, _, t in targets):
        return False
    (h, w), (oh, ow) = x.shape[2:], out.shape[2:]
    rs, re_ = windows(h, oh)
    cs, ce = windows(w, ow)
    lh, lw = int((re_ - rs).max()), int((ce - cs).max())
    dtype = pieces[0][2].dtype
    if reduce == "avg":
        vacc, hacc = _sum_dtype(dtype, lh), _sum_dtype(dtype, lh * lw)
        qdtype = None if dtype.kind == "f" else _quotient_dtype(dtype, lh * lw)
        if vacc is None or hacc is None or (dtype.kind != "f" and qdtype is None):
            return False
    else:
        vacc = hacc = dtype
        qdtype = None
    plan = _Adaptive(reduce, rs, re_, cs, ce, vacc, hacc, qdtype)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch, without a warning
        for (_, _, src), (_, _, dst) in zip(pieces, targets):
            plan.run(src, dst, threads)
    return True


class _Adaptive:
    """One adaptive pooling: the windows along both axes and the dtypes to work in."""

    def __init__(
        self,
        reduce: str,
        rs: np.ndarray,
        re_: np.ndarray,
        cs: np.ndarray,
        ce: np.ndarray,
        vacc: np.dtype,
        hacc: np.dtype,
        qdtype: np.dtype | None,
    ) -> None:
        self.reduce, self.vacc, self.hacc, self.qdtype = reduce, vacc, hacc, qdtype
        self.op: Callable[..., np.ndarray] = {"avg": np.add, "max": np.maximum, "min": np.minimum}[reduce]
        self.rs, self.re = rs.tolist(), re_.tolist()
        self.rlen = re_ - rs
        self.clen = ce - cs
        h_cells, w_cells = int(re_[-1]), int(ce[-1])
        self.row_step = self._regular(h_cells, len(rs))
        self.col_step = self._regular(w_cells, len(cs))
        # Column taps, as indices into a band flattened to (k, columns * c): NumPy gathers
        # single values along a row several times faster than c-value pieces. With pairs
        # (columns j and j + 1 combined by one contiguous op over the band), taps 2u and
        # 2u + 1 of every window are one gather from the pairs, for u < floor(shortest / 2);
        # the taps after those are single columns. Past a window's end a single tap is the
        # zero column (index w) for sums, or the window's last column again for max and min.
        self.channels = 0
        self.cs, self.ce, self.w_cells = cs, ce, w_cells

    @staticmethod
    def _regular(n: int, m: int) -> int | None:
        """The window length when the m windows tile the n cells exactly (m divides n)."""
        return n // m if n % m == 0 else None

    def _column_taps(self, c: int) -> None:
        """Gather indices for c channels (see __init__)."""
        if self.channels == c:
            return
        cs, ce, clen = self.cs, self.ce, self.clen
        lmin, lmax = int(clen.min()), int(clen.max())
        lanes = np.arange(c, dtype=np.intp)

        def spread(cols: np.ndarray) -> np.ndarray:
            return (cols.astype(np.intp)[:, None] * c + lanes).ravel()

        self.pair_taps = [spread(cs + 2 * u) for u in range(lmin // 2)] if lmin >= 4 else []
        fallback = self.w_cells if self.reduce == "avg" else ce - 1
        first = 2 * len(self.pair_taps)
        self.col_taps = [spread(np.where(t < clen, cs + t, fallback)) for t in range(first, lmax)]
        if self.reduce == "avg" and (self.row_step is None or self.col_step is None):
            # divisors per distinct row length, as full rows (a broadcast over the channels
            # would make NumPy's inner loop c values long)
            per_col = np.repeat(clen, c).astype(self.qdtype or np.float64)
            lengths = np.unique(self.rlen)
            self.div_rows = np.stack([per_col * length for length in lengths])
            self.div_index = np.searchsorted(lengths, self.rlen)
        self.channels = c

    def run(self, src: np.ndarray, dst: np.ndarray, threads: int = 1) -> None:
        """Pool one (H, W, c) view into one (oh, ow, c) contiguous array.

        With ``threads`` > 1 the output rows are split into that many runs,
        each pooled by its own thread with its own scratch (NumPy releases the
        GIL inside its loops); the split never changes a value.
        """
        self._column_taps(src.shape[2])
        oh = dst.shape[0]
        parts = max(1, min(threads, oh // 16))
        if parts == 1:
            self._run_rows(src, dst, 0, oh)
            return
        from concurrent.futures import ThreadPoolExecutor

        cuts = [oh * p // parts for p in range(parts + 1)]
        with ThreadPoolExecutor(parts) as pool:
            for f in [pool.submit(self._run_rows, src, dst, a, b) for a, b in itertools.pairwise(cuts)]:
                f.result()

    def _run_rows(self, src: np.ndarray, dst: np.ndarray, lo: int, hi: int) -> None:
        """Output rows lo:hi, in bands whose scratch is about BAND_BYTES."""
        w, c = src.shape[1:]
        ow = dst.shape[1]
        pad = 1 if self.reduce == "avg" and self.col_step is None else 0
        row_bytes = (w + pad) * c * self.vacc.itemsize + 3 * ow * c * 8
        k = max(1, min(hi - lo, BAND_BYTES // max(1, row_bytes)))
        rows = np.zeros((k, w + pad, c), self.vacc)  # the pad column stays zero
        work = np.empty((k, ow, c), self.hacc) if self.reduce == "avg" or self.hacc != dst.dtype else None
        taps = None if self.col_step is not None else (np.empty((k, ow, c), self.vacc), np.empty((k, ow, c), self.hacc))
        quot = np.empty((k, ow, c), self.qdtype) if self.qdtype is not None else None
        for i0 in range(lo, hi, k):
            i1 = min(i0 + k, hi)
            n = i1 - i0
            band = rows[:n]
            self._rows(src, i0, i1, band[:, :w])
            out = dst[i0:i1]
            total = out if work is None else work[:n]
            self._columns(band, total, None if taps is None else (taps[0][:n], taps[1][:n]))
            if self.reduce == "avg":
                self._divide(total, i0, i1, out, None if quot is None else quot[:n])
            elif total is not out:
                np.copyto(out, total)

    def _rows(self, src: np.ndarray, i0: int, i1: int, band: np.ndarray) -> None:
        """Reduce the input rows of output rows i0:i1 into ``band`` (i1 - i0, w, c).

        Windows are taken in runs of equal length whose starts are equally
        spaced (all of them when the size divides; a handful of windows each
        otherwise): tap t of a whole run is one strided view of the input, so
        a run costs one op per tap, not one per window and tap.
        """
        op, acc = self.op, self.vacc
        for j0, j1, start, step, length in self._row_runs(i0, i1):
            dst = band[j0 - i0 : j1 - i0]
            last = start + step * (j1 - j0 - 1) + 1
            taps = [src[start + t : last + t : step] if step else src[start + t][None] for t in range(length)]
            if length == 1:
                np.copyto(dst, taps[0], casting="unsafe")
                continue
            op(taps[0], taps[1], out=dst, dtype=acc)
            for tap in taps[2:]:
                op(dst, tap, out=dst)

    def _row_runs(self, i0: int, i1: int) -> list[tuple[int, int, int, int, int]]:
        """(first, end, first start, start step, length) of each run of windows in i0:i1."""
        if self.row_step is not None:
            step = self.row_step
            return [(i0, i1, i0 * step, step, step)]
        rs, lengths = self.rs, self.rlen
        runs: list[tuple[int, int, int, int, int]] = []
        j = i0
        while j < i1:
            length = int(lengths[j])
            step = rs[j + 1] - rs[j] if j + 1 < i1 and lengths[j + 1] == length else 0
            end = j + 1
            while end < i1 and lengths[end] == length and rs[end] - rs[end - 1] == step:
                end += 1
            if step == 0 and end - j > 1:  # equal starts (more outputs than inputs): one window, repeated
                runs.extend((i, i + 1, rs[i], 0, length) for i in range(j, end))
            else:
                runs.append((j, end, rs[j], step, length))
            j = end
        return runs

    def _columns(self, band: np.ndarray, total: np.ndarray, taps: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Reduce the columns of ``band`` (k, w[+1], c) into ``total`` (k, ow, c)."""
        op = self.op
        step = self.col_step
        if step is not None:
            w = total.shape[1] * step
            strided = [band[:, t:w:step] for t in range(step)]
            if step == 1:
                np.copyto(total, strided[0], casting="unsafe")
                return
            op(strided[0], strided[1], out=total, dtype=self.hacc)
            for t in strided[2:]:
                op(total, t, out=total)
            return
        assert taps is not None
        single, double = taps
        k, wp, c = band.shape
        flat, into = band.reshape(k, wp * c), total.reshape(k, -1)
        one, two = single.reshape(k, -1), double.reshape(k, -1)
        first = True
        if self.pair_taps:
            pairs = np.empty((k, (wp - 1) * c), self.hacc)
            op(flat[:, : (wp - 1) * c], flat[:, c:], out=pairs, dtype=self.hacc)
            for idx in self.pair_taps:
                np.take(pairs, idx, axis=1, out=into if first else two, mode="clip")
                if not first:
                    op(into, two, out=into)
                first = False
        for idx in self.col_taps:
            np.take(flat, idx, axis=1, out=one, mode="clip")
            if first:
                np.copyto(into, one, casting="unsafe")
                first = False
            else:
                op(into, one, out=into)

    def _divide(self, total: np.ndarray, i0: int, i1: int, out: np.ndarray, quot: np.ndarray | None) -> None:
        """``out = total / window size``; integers rounded half to even (exactly, see _quotient_dtype)."""
        if self.row_step is not None and self.col_step is not None:
            div: np.ndarray | int = self.row_step * self.col_step
        else:
            div = np.take(self.div_rows, self.div_index[i0:i1], axis=0).reshape(total.shape)
        if quot is None:  # float images: float64 sums, one rounding to the output dtype
            np.divide(total, div, out=total)
            np.copyto(out, total, casting="unsafe")
            return
        np.divide(total, div, out=quot, casting="unsafe")
        np.rint(quot, out=quot)
        np.copyto(out, quot, casting="unsafe")


# --- 2x2 average through OpenCV ----------------------------------------------------------------


@functools.cache
def area2_is_half_up(dtype: str) -> bool:
    """Whether OpenCV's INTER_AREA halving of this dtype computes ``(s + 2) >> 2`` for window sum s.

    Checked on random images of 1, 3 and 4 channels, widths that exercise the
    vectorised body and the scalar tail, and (8-bit) every window sum 0..1020.
    """
    import cv2

    rng = np.random.default_rng(20240531)
    dt = np.dtype(dtype)
    top = int(np.iinfo(dt).max)
    for c in (1, 3, 4):
        for width in (2, 6, 34, 1026):
            image = rng.integers(0, top + 1, (6, width, c), dtype=dt)
            if not _area2_matches(cv2, image):
                return False
    if dt == np.uint8:
        sums = np.arange(1021)
        taps = [np.minimum(np.maximum(sums - 255 * t, 0), 255) for t in range(4)]
        image = np.zeros((2, 2 * len(sums), 1), dt)
        image[0, 0::2, 0], image[0, 1::2, 0], image[1, 0::2, 0], image[1, 1::2, 0] = taps
        if not _area2_matches(cv2, image):
            return False
    return True


def _area2_matches(cv2, image: np.ndarray) -> bool:
    h, w, c = image.shape
    out = np.empty((h // 2, w // 2, c), image.dtype)
    got = cv2.resize(image if c > 1 else image[:, :, 0], (w // 2, h // 2), dst=out if c > 1 else out[:, :, 0],
                     interpolation=cv2.INTER_AREA)  # fmt: skip
    s = image.astype(np.int64).reshape(h // 2, 2, w // 2, 2, c).sum(axis=(1, 3))
    want = ((s + 2) >> 2).astype(image.dtype)
    return np.shares_memory(got, out) and np.array_equal(out, want)


def avg2_into(x: torch.Tensor, out: torch.Tensor, band_rows: int | None = None) -> bool:
    """Exact 2x2/stride-2 average (half to even) of CPU tensor ``x`` into ``out``; False if not handled.

    The caller has checked the spec (kernel = stride = 2, no padding, no ceil
    overhang, no divisor but 4). Handles uint8 and uint16 with pieces of 1, 3
    or 4 channels.
    """
    import cv2

    pairs = _opencv_pairs(x, out, lambda dtype: area2_is_half_up(dtype.name))
    if pairs is None:
        return False
    oh, ow = out.shape[2:]
    for src, dst in pairs:
        _avg2_one(cv2, src[: 2 * oh, : 2 * ow], dst, band_rows)
    return True


def _opencv_pairs(
    x: torch.Tensor, out: torch.Tensor, exact: Callable[[np.dtype], bool]
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(input, output) NumPy views OpenCV can work on: 8- or 16-bit pieces of 1, 3 or 4 channels with
    contiguous rows, C-contiguous outputs, and ``exact(dtype)``; None when any is not."""
    pieces, targets = planes(x), planes(out)
    if pieces is None or targets is None or len(pieces) != len(targets):
        return None
    dtype = pieces[0][2].dtype
    if dtype not in (np.uint8, np.uint16) or not exact(dtype):
        return None
    if not all(p.shape[2] in (1, 3, 4) and rows_contiguous(p) for _, _, p in pieces):
        return None
    if not all(t.flags.c_contiguous for _, _, t in targets):
        return None
    return [(src, dst) for (_, _, src), (_, _, dst) in zip(pieces, targets)]


def _avg2_one(cv2, src: np.ndarray, dst: np.ndarray, band_rows: int | None) -> None:
    oh, _, c = dst.shape
    if c == 1:
        src, dst = src[:, :, 0], dst[:, :, 0]
    step = band_rows or max(1, HALVING_BAND_BYTES // max(1, 2 * src[0].nbytes))
    step = min(step, oh)
    flipped = np.empty((2 * step, *src.shape[1:]), src.dtype)
    down = np.empty((step, *dst.shape[1:]), dst.dtype)
    for a in range(0, oh, step):
        b = min(a + step, oh)
        m = b - a
        rows, up, low = src[2 * a : 2 * b], dst[a:b], down[:m]
        _resize_into(cv2, rows, up)  # half up: (s + 2) >> 2
        cv2.bitwise_not(rows, dst=flipped[: 2 * m])
        _resize_into(cv2, flipped[: 2 * m], low)  # M - ((s + 1) >> 2)
        # NumPy, not cv2, for these: cv2 takes a 1x1 array beside a tuple for the scalar
        np.bitwise_and(low, up, out=low)
        np.bitwise_and(low, 1, out=low)
        np.subtract(up, low, out=up)  # odd ties step down to the even neighbour


def _resize_into(cv2, src: np.ndarray, dst: np.ndarray) -> None:
    got = cv2.resize(src, (dst.shape[1], dst.shape[0]), dst=dst, interpolation=cv2.INTER_AREA)
    if not np.shares_memory(got, dst):  # OpenCV made its own array: copy it in
        np.copyto(dst, got.reshape(dst.shape))


# --- tiling averages through OpenCV ------------------------------------------------------------


def _area_admissible(dtype: np.dtype, area: int) -> bool:
    """Areas whose ``cvRound(sum * (1.f / area))`` is the exact half-to-even mean, by arithmetic.

    OpenCV sums 16-bit windows in float: exact while ``area * 65535 < 2**24``.
    A power-of-two area divides exactly. For an odd area no mean is a tie,
    and a non-tie mean lies at least ``1 / (2 area)`` from a half, more than
    the product's float error (under ``top * 2**-22``) while ``area * top < 2**21``.
    """
    top = int(np.iinfo(dtype).max)
    if area < 2 or area * top >= 1 << 24:
        return False
    return area & (area - 1) == 0 or (area % 2 == 1 and area * top < 1 << 21)


@functools.cache
def area_is_exact(dtype: str, kh: int, kw: int) -> bool:
    """Whether OpenCV's INTER_AREA at scale ``kh`` x ``kw`` gives the exact half-to-even mean of this dtype.

    Admissible areas only (:func:`_area_admissible`); then checked on random
    images of 1, 3 and 4 channels and on images of few values (many ties).
    """
    import cv2

    dt = np.dtype(dtype)
    if not _area_admissible(dt, kh * kw):
        return False
    rng = np.random.default_rng(20261202)
    top = int(np.iinfo(dt).max)
    for c in (1, 3, 4):
        for rows, cols in ((2, 3), (5, 33)):
            image = rng.integers(0, top + 1, (rows * kh, cols * kw, c), dtype=dt)
            few = rng.choice(np.array([0, 1, top - 1, top], dtype=dt), size=image.shape)
            for probe in (image, few):
                out = np.empty((rows, cols, c), dt)
                _resize_into(cv2, probe if c > 1 else probe[:, :, 0], out if c > 1 else out[:, :, 0])
                s = probe.astype(np.int64).reshape(rows, kh, cols, kw, c).sum(axis=(1, 3))
                q, r = np.divmod(s, kh * kw)
                want = q + ((2 * r > kh * kw) | ((2 * r == kh * kw) & (q % 2 == 1)))
                if not np.array_equal(out, want):
                    return False
    return True


def area_into(x: torch.Tensor, out: torch.Tensor, kh: int, kw: int) -> bool:
    """Exact average over ``kh`` x ``kw`` tiles (stride = kernel, no padding) of CPU tensor ``x``; False if not handled.

    The caller has checked the spec (no padding, no ceil overhang, no divisor
    but the area). Handles uint8 and uint16 with pieces of 1, 3 or 4 channels,
    where :func:`area_is_exact` holds.
    """
    import cv2

    pairs = _opencv_pairs(x, out, lambda dtype: area_is_exact(dtype.name, kh, kw))
    if pairs is None:
        return False
    oh, ow = out.shape[2:]
    for src, dst in pairs:
        src = src[: kh * oh, : kw * ow]
        if dst.shape[2] == 1:
            src, dst = src[:, :, 0], dst[:, :, 0]
        _resize_into(cv2, src, dst)
    return True

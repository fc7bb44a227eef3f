"""Pooling: the only module that knows how tensors are pooled (with its helper ``_cpu``).

Every reduction is built from strided views of the input: a k x k window
reduction is a k-tap reduction over rows followed by one over columns
(max, min and sum are all separable over a rectangle). That keeps the image
in its own dtype for max and min, works unchanged on CPU and CUDA tensors,
and gives PyTorch's results exactly:

* max / min: the extreme of the real cells under the window; padding is
  filled with the dtype's own lowest (highest) value, so it can never win.
  Min pooling is ``-max_pool2d(-x)`` in PyTorch terms; it is computed
  directly with ``minimum`` (negating uint8 would wrap). uint16, which torch
  cannot compare on the CPU, goes through an order-keeping int16.
* avg: an exact integer (or float64) sum divided by PyTorch's divisor; for
  integer images the quotient is rounded half to even (``torch.round``), so
  the mean of 2 and 3 is 2 and of 3 and 4 is 4, never truncated.

How it is made fast (figures in benchmarks/README.md): on the CPU the output
is computed in bands of rows whose scratch stays in cache, so peak memory is
about input plus output; a channels-last column pass runs one strided op per
channel (torch's inner loop would otherwise run over just C values); CPU
buffers come from NumPy, whose allocator reuses memory where torch's faults
in fresh pages on every call; integer averages are divided in float, which is
exact for these sums and much faster than torch's integer division. On a GPU
the whole batch is one band.

Three CPU cases skip the torch ops for NumPy and OpenCV (:mod:`poolcli._cpu`,
whose docstring says how each stays exact): the 2x2, stride-2 average of
8- and 16-bit images with 1, 3 or 4 channels (OpenCV's INTER_AREA halving,
which rounds ties up, run on the image and on its complement, whose low bits
together mark the ties to round down); adaptive pooling (window sums along
rows into one-row accumulators, then gathered column taps, in bands, on as
many threads as torch uses); and global pooling (a per-channel reduction over
rows, ``cv2.sumElems`` for exact 8/16-bit sums). Tensors on a GPU, and CPU
tensors whose memory NumPy cannot view, take the torch path.

Limits: an adaptive output may hold at most :data:`MAX_OUTPUT_VALUES` (2**31)
values and no more bytes than the device has (:class:`ParameterError`,
checked before allocating); an allocation that fails anyway raises
:class:`~poolcli.errors.OutOfMemoryError`, never a raw ``RuntimeError``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np

from . import _cpu
from .errors import ImageShapeError, OutOfMemoryError, ParameterError, PoolcliError
from .params import AxisPlan, PairLike, PoolSpec, parse_size
from .tensor import SUPPORTED_DTYPES, resolve_device, to_image, to_tensor

if TYPE_CHECKING:
    import torch

ImageOrTensor = Union[np.ndarray, "torch.Tensor"]
_Divisor = Union[int, tuple["torch.Tensor", "torch.Tensor"]]
REDUCES: tuple[str, ...] = ("avg", "max", "min")
_F = TypeVar("_F", bound=Callable[..., Any])

#: The most values (N * C * rows * cols) an adaptive output may hold: 2**31, as
#: ``--max-pixels`` bounds what is read. A larger request (or one larger than the
#: machine's memory) raises :class:`ParameterError` before anything is allocated.
MAX_OUTPUT_VALUES = 2**31

#: Text of the allocation failures torch, NumPy and OpenCV raise as RuntimeError/cv2.error.
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory", "insufficient memory",
             "failed to allocate")  # fmt: skip


def _memory_guard(fn: _F) -> _F:
    """Turn an allocation failure inside ``fn`` into :class:`OutOfMemoryError` ("out of memory: ...")."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PoolcliError:
            raise
        except MemoryError as exc:
            raise OutOfMemoryError(f"out of memory: {exc or 'an allocation failed'}") from exc
        except Exception as exc:
            text = str(exc)
            allocator = isinstance(exc, RuntimeError) or type(exc).__name__ == "error"  # torch, cv2.error
            if allocator and any(t in text.lower() for t in _OOM_TEXT):
                raise OutOfMemoryError(f"out of memory: {text.strip().splitlines()[-1]}") from exc
            raise

    return guarded  # type: ignore[return-value]


@_memory_guard
def pool(
    image: ImageOrTensor,
    op: str,
    kernel: PairLike = 2,
    stride: PairLike | None = None,
    padding: PairLike = 0,
    dilation: PairLike = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor: int | None = None,
    device: str | torch.device = "cpu",
) -> ImageOrTensor:
    """Max, average or min pooling with PyTorch's semantics.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), or Tensor of shape (N, C, H, W)
        uint8, int8, uint16, int16, int32, float32 or float64. Channels are
        pooled independently.
    op : {"max", "avg", "min"}
    kernel, stride, padding, dilation : int, (rows, cols) or "HxW"
        As ``torch.nn.functional.max_pool2d``; ``stride`` defaults to the
        kernel; ``padding`` may also be ``"same"`` (output ceil(in / stride),
        the extra cell of an odd total on the bottom/right). Padding is at
        most half the effective kernel. Dilation is for max and min only.
    ceil_mode : bool
        Round the output size up (the last window must start inside the
        input or the left padding).
    count_include_pad : bool
        avg only: whether padded cells count in the divisor.
    divisor : int, optional
        avg only: divide by this instead (PyTorch's ``divisor_override``).
    device : str or torch.device
        Where to pool a NumPy image (``"cpu"``, ``"cuda"``, ``"cuda:N"``,
        ``"auto"``). A tensor is pooled where it is.

    Returns
    -------
    ndarray or Tensor
        Same kind, dtype and channel count as ``image``; spatial size
        ``floor((in + 2p - d(k-1) - 1) / s) + 1`` per axis (see
        :func:`poolcli.output_size`). Integer averages are rounded half to
        even.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.pool(np.arange(16, dtype=np.uint8).reshape(4, 4), "max")
    array([[ 5,  7],
           [13, 15]], dtype=uint8)
    >>> poolcli.pool(np.array([[2, 3, 3, 4]], dtype=np.uint8), "avg", kernel=(1, 2))
    array([[2, 4]], dtype=uint8)
    """
    spec = PoolSpec.make(op, kernel, stride, padding, dilation, ceil_mode, count_include_pad, divisor)
    return _apply(image, device, lambda t: pool_tensor(t, spec))


@_memory_guard
def adaptive_pool(
    image: ImageOrTensor,
    size: int | tuple[int | None, int | None] | str,
    reduce: str = "avg",
    device: str | torch.device = "cpu",
) -> ImageOrTensor:
    """Adaptive pooling to a given output size (PyTorch's ``adaptive_*_pool2d``).

    Output cell ``i`` of ``m`` along an axis of length ``n`` reduces input
    cells ``floor(i*n/m)`` to ``ceil((i+1)*n/m) - 1``.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, C), or Tensor (N, C, H, W)
    size : int, (rows, cols) or "HxW"
        Either side may be None (``"64x-"`` in a string) to keep the input's.
    reduce : {"avg", "max", "min"}
    device : as in :func:`pool`

    Returns
    -------
    ndarray or Tensor of shape (rows, cols[, C]) / (N, C, rows, cols), same dtype.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.adaptive_pool(np.arange(10, dtype=np.uint8).reshape(2, 5), (1, 2), "max")
    array([[7, 9]], dtype=uint8)
    """
    _check_reduce(reduce)
    rows, cols = parse_size(size)
    return _apply(image, device, lambda t: adaptive_pool_tensor(t, (rows, cols), reduce))


@_memory_guard
def global_pool(image: ImageOrTensor, reduce: str = "avg", device: str | torch.device = "cpu") -> ImageOrTensor:
    """Global pooling: one value per channel (GAP for ``reduce="avg"``).

    Returns
    -------
    ndarray of shape (C,) for an image ((1,) for a 2-D image), or a Tensor of
    shape (N, C). ``max``/``min`` keep the dtype; ``avg`` is the float64 mean.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.global_pool(np.array([[0, 1], [2, 4]], dtype=np.uint8), "avg")
    array([1.75])
    """
    _check_reduce(reduce)
    if isinstance(image, np.ndarray):
        t = to_tensor(image, resolve_device(device))
        return global_pool_tensor(t, reduce)[0].cpu().numpy()
    return global_pool_tensor(_check_tensor(image), reduce)


# --- tensor level ------------------------------------------------------------------


@_memory_guard
def pool_tensor(x: torch.Tensor, spec: PoolSpec, *, band_rows: int | None = None) -> torch.Tensor:
    """Pool an (N, C, H, W) tensor with a validated :class:`PoolSpec`.

    The output keeps the input's memory format (channels-last stays
    channels-last). On the CPU it is computed in bands of ``band_rows`` output
    rows (chosen from the image width when None), so the intermediate rows
    stay in cache and peak memory stays near input plus output; the band size
    never changes the result.
    """
    rows, cols = spec.plan(x.shape[2], x.shape[3])
    red = _Reduction.make(spec, x)
    (out,) = _empty(x, red.layout, ((x.shape[0], x.shape[1], rows.out, cols.out), x.dtype))
    if _on_cpu(x) and _is_halving_average(x, spec, rows, cols) and _cpu.avg2_into(x, out, band_rows):
        return out
    step = band_rows or _band_rows(x, rows, cols, red)
    scratch = _Scratch.make(x, rows, cols, red, min(step, rows.out))
    div = _divisor(x, rows, cols, red) if spec.op == "avg" else 1
    for start in range(0, rows.out, step):
        stop = min(start + step, rows.out)
        _pool_band(x, rows, cols, red, scratch, div, start, stop, out[:, :, start:stop])
    return out


@_memory_guard
def adaptive_pool_tensor(x: torch.Tensor, size: tuple[int | None, int | None], reduce: str) -> torch.Tensor:
    """Adaptive pooling of an (N, C, H, W) tensor to ``size`` (None keeps a side).

    Raises
    ------
    ParameterError
        When the output would hold more than :data:`MAX_OUTPUT_VALUES` values
        or more bytes than the machine (or GPU) has; checked before any
        allocation.
    """
    import torch

    out_h = x.shape[2] if size[0] is None else size[0]
    out_w = x.shape[3] if size[1] is None else size[1]
    shape = (x.shape[0], x.shape[1], out_h, out_w)
    _check_output_size(x, shape)
    if _on_cpu(x):
        layout = torch.channels_last if x.shape[1] > 1 and x.stride(1) == 1 else torch.contiguous_format
        (out,) = _empty(x, layout, (shape, x.dtype))
        if _cpu.adaptive_into(x, out, reduce, threads=torch.get_num_threads()):
            return out
        del out  # the torch path below makes its own
    if reduce == "avg":
        acc = torch.float64 if x.dtype.is_floating_point else torch.int64
        sums, nh = _adaptive_axis(x.to(acc), 2, out_h, torch.add)
        sums, nw = _adaptive_axis(sums, 3, out_w, torch.add)
        div = torch.tensor(nh, dtype=acc, device=x.device)[:, None] * torch.tensor(nw, dtype=acc, device=x.device)
        return _divide(sums, div, x.dtype)
    y, undo = _ordered(x)
    combine = torch.maximum if reduce == "max" else torch.minimum
    y, _ = _adaptive_axis(y, 2, out_h, combine)
    y, _ = _adaptive_axis(y, 3, out_w, combine)
    return undo(y)


@_memory_guard
def global_pool_tensor(x: torch.Tensor, reduce: str) -> torch.Tensor:
    """Reduce an (N, C, H, W) tensor over H and W to (N, C)."""
    import torch

    if _on_cpu(x):
        fast = _cpu.global_reduce(x, reduce)
        if fast is not None:
            return fast
    if reduce == "avg":
        acc = torch.float64 if x.dtype.is_floating_point else torch.int64
        total = x.to(acc).sum(dim=(2, 3))
        return total.to(torch.float64) / (x.shape[2] * x.shape[3])
    y, undo = _ordered(x)
    y = y.amax(dim=(2, 3)) if reduce == "max" else y.amin(dim=(2, 3))
    return undo(y)


# --- helpers -----------------------------------------------------------------------


def _apply(
    image: ImageOrTensor, device: str | torch.device, fn: Callable[[torch.Tensor], torch.Tensor]
) -> ImageOrTensor:
    if isinstance(image, np.ndarray):
        t = to_tensor(image, resolve_device(device))
        return to_image(fn(t), image.ndim)
    return fn(_check_tensor(image))


def _check_tensor(x: object) -> torch.Tensor:
    import torch

    if not isinstance(x, torch.Tensor):
        raise ImageShapeError(f"expected a numpy array or a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.numel() == 0:
        raise ImageShapeError(f"expected a tensor of shape (N, C, H, W), got {tuple(x.shape)}")
    allowed = {getattr(torch, str(d)) for d in SUPPORTED_DTYPES}
    if x.dtype not in allowed:
        raise ImageShapeError(f"unsupported sample format {x.dtype}")
    return x


def _check_output_size(x: torch.Tensor, shape: tuple[int, int, int, int]) -> None:
    """Refuse an output that could not be allocated sensibly, before allocating anything."""
    values = math.prod(shape)
    nbytes = values * x.element_size()
    text = f"{shape[2]}x{shape[3]}"
    what = f"the output ({shape[2]} x {shape[3]} x {shape[0] * shape[1]} values of {str(x.dtype).replace('torch.', '')}, {_bytes(nbytes)})"
    if values > MAX_OUTPUT_VALUES:
        raise ParameterError("size", text, f"{what} is over the limit of {MAX_OUTPUT_VALUES:,} values")
    memory = _device_memory(x)
    # the plan's window tables (a few int64 per output row and column) live in RAM too
    if memory is not None and nbytes + 64 * (shape[2] + shape[3]) > memory:
        raise ParameterError("size", text, f"{what} is larger than this machine's memory ({_bytes(memory)})")


def _device_memory(x: torch.Tensor) -> int | None:
    """Bytes of memory where ``x`` lives (RAM or the GPU's), or None when unknown."""
    import torch

    try:
        if x.device.type == "cuda":
            return int(torch.cuda.get_device_properties(x.device).total_memory)
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError, RuntimeError):
        return None


def _bytes(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _is_halving_average(x: torch.Tensor, spec: PoolSpec, rows: AxisPlan, cols: AxisPlan) -> bool:
    """An exact 2x2, stride-2 average with no padding and no partial window (OpenCV's halving)."""
    if spec.op != "avg":
        return False
    import torch

    return (
        x.dtype in (torch.uint8, torch.uint16)
        and spec.kernel == (2, 2)
        and spec.stride == (2, 2)
        and spec.divisor in (None, 4)
        and rows.before == cols.before == 0
        and _after(rows, x.shape[2]) == _after(cols, x.shape[3]) == 0
    )


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCES:
        raise ParameterError("reduce", reduce, f"must be one of {', '.join(REDUCES)}")


def _ordered(x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """A dtype whose comparisons torch implements, and the way back.

    torch has almost no uint16 kernels; flipping the top bit maps uint16 onto
    int16 with the order kept (0 -> -32768, 65535 -> 32767), exactly.
    """
    import torch

    if x.dtype != torch.uint16:
        return x, lambda y: y
    flipped = torch.bitwise_xor(x.view(torch.int16), -32768)
    return flipped, lambda y: torch.bitwise_xor(y, -32768).view(torch.uint16)


def _extreme(dtype: torch.dtype, lowest: bool) -> float | int:
    import torch

    if dtype.is_floating_point:
        return float("-inf") if lowest else float("inf")
    info = torch.iinfo(dtype)
    return info.min if lowest else info.max


# --- banded separable pooling -------------------------------------------------------

#: Scratch bytes per band on the CPU (all intermediate buffers together): small
#: enough to stay in the last-level cache, large enough that torch's per-op
#: overhead and thread wake-ups are noise. Chosen by measurement (benchmarks/README.md).
BAND_BYTES = 8 << 20


@dataclass(frozen=True)
class _Reduction:
    """What one pooling op computes in, and how it lays out its scratch.

    ``band`` is the dtype input rows are read in: the image's own, except
    uint16, which torch cannot compare or add on the CPU (flipped to an
    order-keeping int16 for max and min, widened to int32 for avg). ``work``
    is the dtype taps are combined in: ``band`` for max and min, an exact
    integer sum (float64 for floats) for avg.
    """

    spec: PoolSpec
    band: torch.dtype
    work: torch.dtype
    fill: float | int
    layout: torch.memory_format
    per_channel: bool

    @classmethod
    def make(cls, spec: PoolSpec, x: torch.Tensor) -> _Reduction:
        import torch

        channels_last = x.shape[1] > 1 and x.stride(1) == 1
        layout = torch.channels_last if channels_last else torch.contiguous_format
        # A channels-last column pass would run torch's inner loop over just C
        # values; one strided op per channel runs it along the row instead.
        per_channel = channels_last and _on_cpu(x)
        if spec.op == "avg":
            # Input rows are widened once, so every add is same-dtype and vectorised.
            taps = spec.kernel[0] * spec.kernel[1]
            work = _sum_dtype(x.dtype, taps, spec.divisor or taps)
            return cls(spec, work, work, 0, layout, per_channel)
        band = torch.int16 if x.dtype == torch.uint16 else x.dtype
        return cls(spec, band, band, _extreme(band, lowest=spec.op == "max"), layout, per_channel)

    def combine(self, dst: torch.Tensor, taps: list[torch.Tensor], split: bool = False) -> None:
        """Write the reduction of ``taps`` (views of one shape, in ``work``) into ``dst``.

        With ``split`` each channel is reduced by its own ops (see ``per_channel``).
        """
        import torch

        if split and self.per_channel:
            for c in range(dst.shape[1]):
                self.combine(dst[:, c], [t[:, c] for t in taps])
            return
        if len(taps) == 1:
            dst.copy_(taps[0])
            return
        fn = {"max": torch.maximum, "min": torch.minimum, "avg": torch.add}[self.spec.op]
        fn(taps[0], taps[1], out=dst)
        for t in taps[2:]:
            fn(dst, t, out=dst)


def _on_cpu(x: torch.Tensor) -> bool:
    """Whether to take the CPU's choices (bands, per-channel ops, NumPy memory); else a GPU's."""
    return x.device.type == "cpu"


def _sum_dtype(dtype: torch.dtype, taps: int, divisor: int) -> torch.dtype:
    """The narrowest dtype that holds ``2 * sum + divisor`` of ``taps`` values exactly."""
    import torch

    if dtype.is_floating_point:
        return torch.float64
    bound = {torch.uint8: 255, torch.int8: 128, torch.uint16: 65535, torch.int16: 32768}.get(dtype, 2**31)
    need = 2 * bound * taps + divisor
    if need < 2**15:
        return torch.int16
    return torch.int32 if need < 2**31 else torch.int64


def _empty(
    x: torch.Tensor, layout: torch.memory_format, *wants: tuple[tuple[int, ...], torch.dtype]
) -> list[torch.Tensor]:
    """Uninitialised (N, C, H, W) tensors of the given shapes and dtypes on ``x``'s device.

    On the CPU they are carved from one NumPy buffer: NumPy's allocator hands
    back the memory the last call freed (and asks for huge pages for big
    arrays), where torch maps fresh 4 KiB pages on every call, and faulting
    those in cost more than the pooling itself (benchmarks/README.md).
    """
    import torch

    if not _on_cpu(x):
        return [torch.empty(shape, dtype=dtype, device=x.device, memory_format=layout) for shape, dtype in wants]
    sizes = [math.prod(shape) * dtype.itemsize for shape, dtype in wants]
    arena = np.empty(sum(-(-size // 64) * 64 for size in sizes), np.uint8)
    tensors, offset = [], 0
    for (shape, dtype), size in zip(wants, sizes):
        flat = torch.from_numpy(arena[offset : offset + size]).view(dtype)
        offset += -(-size // 64) * 64
        if layout == torch.channels_last:
            n, c, h, w = shape
            tensors.append(flat.view(n, h, w, c).permute(0, 3, 1, 2))
        else:
            tensors.append(flat.view(shape))
    return tensors


def _band_rows(x: torch.Tensor, rows: AxisPlan, cols: AxisPlan, red: _Reduction) -> int:
    """Output rows per band: all of them on a GPU, about ``BAND_BYTES`` of scratch on the CPU."""
    if not _on_cpu(x):
        return rows.out
    per_row = _Scratch.nbytes(x, rows, cols, red, 2) - _Scratch.nbytes(x, rows, cols, red, 1)
    return max(1, BAND_BYTES // max(1, per_row))


def _after(plan: AxisPlan, length: int) -> int:
    """Cells of padding (and ceil-mode overhang) the last window needs past the input."""
    return max(0, plan.span - plan.before - length)


@dataclass
class _Scratch:
    """Buffers reused by every band of one call (None where not needed).

    ``band``: input rows converted to ``red.band`` with padding rows filled.
    ``rows``: the row pass, with the column padding filled once. ``pairs``:
    neighbouring columns of it combined (see :func:`_column_taps`). ``sums``:
    the column sums of an average; ``quotient``: their float quotient (see
    :func:`_divide_into`).
    """

    band: torch.Tensor | None
    rows: torch.Tensor | None
    pairs: torch.Tensor | None
    sums: torch.Tensor | None
    quotient: torch.Tensor | None

    @staticmethod
    def wants(
        x: torch.Tensor, rows: AxisPlan, cols: AxisPlan, red: _Reduction, step: int
    ) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """The shape and dtype of each buffer needed for bands of ``step`` output rows."""
        n, c, h, w = x.shape
        after = _after(cols, w)
        wants: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
        if red.band != x.dtype or rows.before or _after(rows, h):
            wants["band"] = ((n, c, (step - 1) * rows.stride + rows.effective, w), red.band)
        if rows.kernel > 1 or cols.before or after:
            wants["rows"] = ((n, c, step, cols.before + w + after), red.work)
        if cols.kernel > 2:
            wants["pairs"] = ((n, c, step, cols.before + w + after - cols.dilation), red.work)
        if red.spec.op == "avg":
            wants["sums"] = ((n, c, step, cols.out), red.work)
            exact = _exact_quotient_dtype(x.dtype, rows.kernel * cols.kernel, red.spec.divisor)
            if exact is not None:
                wants["quotient"] = ((n, c, step, cols.out), exact)
        return wants

    @classmethod
    def nbytes(cls, x: torch.Tensor, rows: AxisPlan, cols: AxisPlan, red: _Reduction, step: int) -> int:
        return sum(math.prod(shape) * dtype.itemsize for shape, dtype in cls.wants(x, rows, cols, red, step).values())

    @classmethod
    def make(cls, x: torch.Tensor, rows: AxisPlan, cols: AxisPlan, red: _Reduction, step: int) -> _Scratch:
        wants = cls.wants(x, rows, cols, red, step)
        made = dict(zip(wants, _empty(x, red.layout, *wants.values())))
        if "rows" in made:
            w = x.shape[3]
            made["rows"][..., : cols.before].fill_(red.fill)
            made["rows"][..., cols.before + w :].fill_(red.fill)
        return cls(*(made.get(name) for name in ("band", "rows", "pairs", "sums", "quotient")))


def _pool_band(
    x: torch.Tensor,
    rows: AxisPlan,
    cols: AxisPlan,
    red: _Reduction,
    scratch: _Scratch,
    div: _Divisor,
    start: int,
    stop: int,
    out: torch.Tensor,
) -> None:
    """Pool output rows ``start:stop`` into ``out`` (their slice of the output)."""
    n = stop - start
    band = _band_input(x, start * rows.stride - rows.before, (n - 1) * rows.stride + rows.effective, red, scratch)
    row_taps = _taps(band, 2, n, rows)
    if scratch.rows is None:
        pooled = row_taps[0]  # one tap, no column padding: the row pass is a view
    else:
        pooled = scratch.rows[:, :, :n]
        red.combine(pooled.narrow(3, cols.before, x.shape[3]), row_taps)
    col_taps = _column_taps(pooled, cols, red, None if scratch.pairs is None else scratch.pairs[:, :, :n])
    if red.spec.op == "avg":
        assert scratch.sums is not None
        sums = scratch.sums[:, :, :n]
        red.combine(sums, col_taps, split=True)
        band_div = div if isinstance(div, int) else div[0][start:stop] * div[1]
        quotient = None if scratch.quotient is None else scratch.quotient[:, :, :n]
        _divide_into(sums, band_div, out, clamp=red.spec.divisor is not None, quotient=quotient)
    elif out.dtype == red.work:
        red.combine(out, col_taps, split=True)
    else:  # uint16 through its flipped int16 twin, in place
        flipped = out.view(red.work)
        red.combine(flipped, col_taps, split=True)
        flipped.bitwise_xor_(-32768)


def _band_input(x: torch.Tensor, first: int, span: int, red: _Reduction, scratch: _Scratch) -> torch.Tensor:
    """Input rows ``first:first+span`` in ``red.band``; rows outside the image hold ``red.fill``.

    A view of ``x`` when nothing needs converting or filling.
    """
    import torch

    lo, hi = max(first, 0), min(first + span, x.shape[2])
    src = x[:, :, lo:hi]
    if scratch.band is None or (red.band == x.dtype and lo == first and hi == first + span):
        return src
    band = scratch.band[:, :, :span]
    top = lo - first
    band[:, :, :top].fill_(red.fill)
    band[:, :, top + hi - lo :].fill_(red.fill)
    inside = band[:, :, top : top + hi - lo]
    if red.band == torch.int16 and x.dtype == torch.uint16:
        torch.bitwise_xor(src.view(torch.int16), -32768, out=inside)
    else:
        inside.copy_(src)
    return band


def _taps(x: torch.Tensor, dim: int, count: int, plan: AxisPlan) -> list[torch.Tensor]:
    """The ``plan.kernel`` strided views along ``dim`` whose reduction gives ``count`` windows.

    ``x`` starts at the first window's first cell; view ``j`` holds, at
    position ``i``, the cell ``i * stride + j * dilation``.
    """
    views = []
    for j in range(plan.kernel):
        index: list[slice] = [slice(None)] * x.dim()
        start = j * plan.dilation
        index[dim] = slice(start, start + (count - 1) * plan.stride + 1, plan.stride)
        views.append(x[tuple(index)])
    return views


def _column_taps(x: torch.Tensor, plan: AxisPlan, red: _Reduction, pairs: torch.Tensor | None) -> list[torch.Tensor]:
    """The strided views along the columns of ``x`` whose reduction gives the pooled columns.

    Each strided op costs several times a contiguous one (no vectorisation),
    so with ``pairs`` (a buffer one dilation narrower than ``x``) columns
    ``c`` and ``c + dilation`` are first combined everywhere by one
    contiguous op; taps ``2u`` and ``2u + 1`` of a window are then one view
    of the pairs, and a k-tap window needs ``ceil(k / 2)`` strided views
    instead of ``k``.
    """
    if pairs is None:
        return _taps(x, 3, plan.out, plan)
    d, s, last = plan.dilation, plan.stride, (plan.out - 1) * plan.stride + 1
    red.combine(pairs, [x[..., : pairs.shape[3]], x[..., d:]])
    views = [pairs[..., 2 * u * d : 2 * u * d + last : s] for u in range(plan.kernel // 2)]
    if plan.kernel % 2:
        start = (plan.kernel - 1) * d
        views.append(x[..., start : start + last : s])
    return views


def _divisor(x: torch.Tensor, rows: AxisPlan, cols: AxisPlan, red: _Reduction) -> _Divisor:
    """PyTorch's divisor: one int, or per-row and per-column window counts to multiply."""
    import torch

    spec = red.spec
    if spec.divisor is not None:
        return spec.divisor
    ch = _window_counts(rows, spec.count_include_pad)
    cw = _window_counts(cols, spec.count_include_pad)
    if len(set(ch)) == 1 and len(set(cw)) == 1:
        return ch[0] * cw[0]
    th = torch.tensor(ch, dtype=red.work, device=x.device)
    tw = torch.tensor(cw, dtype=red.work, device=x.device)
    return th[:, None], tw[None, :]


def _window_counts(plan: AxisPlan, include_pad: bool) -> list[int]:
    """Per output position, how many cells PyTorch divides by along one axis."""
    counts = []
    for i in range(plan.out):
        start = i * plan.stride - plan.before
        end = start + plan.kernel
        if include_pad:
            counts.append(min(end, plan.length + plan.after) - start)
        else:
            counts.append(min(end, plan.length) - max(start, 0))
    return counts


def _divide_into(
    sums: torch.Tensor, div: torch.Tensor | int, out: torch.Tensor, clamp: bool, quotient: torch.Tensor | None = None
) -> None:
    """Write ``sums / div`` into ``out``; integers rounded half to even. ``sums`` is overwritten.

    With ``quotient`` (a float buffer shaped like ``sums``, from
    :func:`_exact_quotient_dtype`) integers are divided in floating point and
    rounded with ``torch.round`` (half to even). That is exact: a quotient
    that is not a tie lies at least ``1 / (2 * div)`` from the nearest half,
    more than the division's rounding error while ``|sum|`` stays below
    2**23 (float32) or 2**52 (float64), and a tie is computed exactly.
    Without it, integer arithmetic (several times slower; torch's integer
    division is not vectorised). ``clamp`` clips to ``out``'s range, needed
    only with a divisor smaller than the window.
    """
    import torch

    if out.dtype.is_floating_point:
        out.copy_(sums.div_(div))
        return
    if quotient is not None:
        quotient.copy_(sums)
        if isinstance(div, int) and div & (div - 1) == 0:
            quotient.mul_(1 / div)  # exact for a power of two, and cheaper than dividing
        else:
            quotient.div_(div)
        quotient.round_()
        if clamp:
            quotient.clamp_(*_range(out.dtype))
        # torch has no vectorised float -> uint8 cast; float -> int16 and int16 -> uint8 are fast
        out.copy_(sums.copy_(quotient) if out.dtype == torch.uint8 else quotient)
        return
    twice = sums.mul_(2).add_(div)
    q = torch.div(twice, div * 2, rounding_mode="floor")  # rounds half up ...
    tie = twice == q * (div * 2)
    q.sub_(tie.logical_and_(q.bitwise_and(1).bool()).to(q.dtype))  # ... and an odd tie down
    if clamp:
        q.clamp_(*_range(out.dtype))
    out.copy_(q)


def _range(dtype: torch.dtype) -> tuple[int, int]:
    import torch

    info = torch.iinfo(dtype)
    return info.min, info.max


def _exact_quotient_dtype(dtype: torch.dtype, taps: int, divisor: int | None) -> torch.dtype | None:
    """The float dtype in which sums of ``taps`` values divide exactly (see :func:`_divide_into`)."""
    import torch

    if dtype.is_floating_point:
        return None
    largest = max(abs(torch.iinfo(dtype).min), torch.iinfo(dtype).max) * taps
    d = max(divisor or taps, taps)
    if largest < 2**23 and d < 2**23:
        return torch.float32
    if largest < 2**52 and d < 2**52:
        return torch.float64
    return None


def _divide(sums: torch.Tensor, div: torch.Tensor | int, dtype: torch.dtype) -> torch.Tensor:
    """``sums / div`` as a new tensor of ``dtype``; integers rounded half to even, then clipped."""
    import torch

    out = torch.empty(sums.shape, dtype=dtype, device=sums.device)
    _divide_into(sums.clone(), div, out, clamp=True)
    return out


def _adaptive_axis(
    x: torch.Tensor, dim: int, out: int, combine: Callable[..., torch.Tensor]
) -> tuple[torch.Tensor, list[int]]:
    """Adaptive windows along ``dim``: returns the reduction and each window's length.

    Windows differ in length by at most one cell; tap ``j`` gathers cell
    ``start + min(j, len - 1)`` (a repeat is harmless for max and min) and,
    for sums, is replaced by zero past the window's end (``torch.where``, not
    a multiplication by a mask: ``inf * 0`` is NaN).
    """
    import torch

    n = x.shape[dim]
    starts = [(i * n) // out for i in range(out)]
    ends = [-(-((i + 1) * n) // out) for i in range(out)]
    lengths = [e - s for s, e in zip(starts, ends)]
    shape = [1] * x.dim()
    shape[dim] = out
    acc: torch.Tensor | None = None
    for j in range(max(lengths)):
        idx = torch.tensor([s + min(j, ln - 1) for s, ln in zip(starts, lengths)], device=x.device)
        tap = x.index_select(dim, idx)
        if combine is torch.add:
            if j >= min(lengths):
                keep = torch.tensor([j < ln for ln in lengths], device=x.device).view(shape)
                tap = torch.where(keep, tap, torch.zeros((), dtype=tap.dtype, device=tap.device))
            acc = tap if acc is None else acc.add_(tap)
        else:
            acc = tap if acc is None else combine(acc, tap)
    assert acc is not None
    return acc, lengths

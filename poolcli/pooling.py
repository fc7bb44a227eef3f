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

The ops beyond max, avg and min (median, Lp, blur, maxblur, SoftPool,
stochastic, fractional, unpooling, and indices for max and min) have kernels of
their own, in a section at the end: the window-tap ops read each band of
output rows from one planar copy split into column phases, so every tap is a
view whose last dimension is contiguous; blur is two separable integer passes;
fractional pooling gathers rows, then columns.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np

from . import _cpu
from .errors import ImageShapeError, OutOfMemoryError, ParameterError, PoolcliError
from .spec import AxisPlan, PairLike, PoolSpec
from .tensor import SUPPORTED_DTYPES, resolve_device, to_image, to_tensor

if TYPE_CHECKING:
    import torch

ImageOrTensor = Union[np.ndarray, "torch.Tensor"]
_Divisor = Union[int, tuple["torch.Tensor", "torch.Tensor"]]
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
    op: str | PoolSpec,
    kernel: PairLike | None = None,
    stride: PairLike | None = None,
    padding: PairLike = 0,
    dilation: PairLike = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor: int | None = None,
    device: str | torch.device = "cpu",
    return_indices: bool = False,
    **params: Any,
) -> Any:
    """Pool an image or a batch with PyTorch's semantics: max, average, min, or any op in :mod:`poolcli.ops`.

    Pooling here is arithmetic on pictures, not a training layer: tensors are
    pooled without autograd.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), or Tensor of shape (N, C, H, W)
        uint8, int8, uint16, int16, int32, float32 or float64. Channels are
        pooled independently.
    op : str or PoolSpec
        An op name (``"max"``, ``"avg"``, ``"min"``, ``"adaptive"`` ...), the
        knobs then given as keywords; or a whole :class:`~poolcli.spec.PoolSpec`
        (no other knobs).
    kernel, stride, padding, dilation : int, (rows, cols) or "HxW"
        As ``torch.nn.functional.max_pool2d``; ``kernel`` defaults to 2 (3 for
        blur and maxblur), ``stride`` to the kernel (2 for blur and maxblur); ``padding`` may also be ``"same"`` (output ceil(in / stride),
        the extra cell of an odd total on the bottom/right). Padding is at
        most half the kernel. Dilation is for max and min only.
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
    return_indices : bool
        max and min only: also return where each value came from, PyTorch's
        ``max_pool2d(..., return_indices=True)`` convention (per channel, the
        flat index ``row * W + col`` into the unpadded input; among equal
        values the first in row-major order wins). For
        :func:`poolcli.unpool`.
    **params
        The op's own parameters and ``size`` / ``ratio`` (``adaptive``:
        ``size=(64, None)``, ``reduce="max"``; ``median``: ``even="mean"``;
        ``lp``: ``power=3``; ``fractional``: ``ratio=0.5, seed=1`` ...; see
        ``poolcli <op> --help`` or :data:`poolcli.ops.OPS`).

    Returns
    -------
    ndarray or Tensor
        Same kind, dtype and channel count as ``image`` (NumPy arrays in the
        machine's byte order); spatial size
        ``floor((in + 2p - d(k-1) - 1) / s) + 1`` per axis (see
        :func:`poolcli.output_size`). Integer averages are rounded half to
        even. With ``return_indices``, ``(pooled, indices)``: int64 indices
        of the pooled image's shape (its layout for a NumPy image).

    Notes
    -----
    poolcli is an image tool, not a training layer: a tensor is pooled
    without autograd (under ``torch.no_grad()``, on detached data), so a
    result never requires grad, even from an input that does. For gradients
    use ``torch.nn.functional.max_pool2d`` and friends.

    Raises
    ------
    ParameterError
        A knob out of range, or one the op does not take.
    WindowTooLargeError
        The (padded) image is smaller than the window.
    ImageShapeError
        Not (H, W[, C]) / (N, C, H, W), empty, an unsupported dtype, or a
        sparse or other non-strided tensor.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.pool(np.arange(16, dtype=np.uint8).reshape(4, 4), "max")
    array([[ 5,  7],
           [13, 15]], dtype=uint8)
    >>> poolcli.pool(np.array([[2, 3, 3, 4]], dtype=np.uint8), "avg", kernel=(1, 2))
    array([[2, 4]], dtype=uint8)
    """
    if isinstance(op, PoolSpec):
        knobs = (kernel, stride, padding, dilation, ceil_mode, count_include_pad, divisor)
        if params or knobs != (None, None, 0, 1, False, True, None):
            raise ParameterError("op", op.describe(), "a PoolSpec carries every knob; give no others beside it")
        spec = op
    else:
        if kernel is not None:  # else the op's own default
            params["kernel"] = kernel
        spec = PoolSpec.make(
            op, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode,
            count_include_pad=count_include_pad, divisor=divisor, **params,
        )  # fmt: skip
    if spec.info.kind == "global":
        raise ParameterError("op", spec.op, "gives one value per channel, not an image: use poolcli.global_pool")
    if return_indices:
        if not spec.info.indices:
            takers = " and ".join(name for name, info in _ops().items() if info.indices)
            raise ParameterError("return_indices", True, f"only applies to {takers} pooling")
        with _no_grad():
            if isinstance(image, np.ndarray):
                values, where = pool_indices_tensor(to_tensor(image, resolve_device(device)), spec)
                return to_image(values, image.ndim), to_image(where, image.ndim)
            return pool_indices_tensor(_check_tensor(image), spec)
    return _apply(image, device, lambda t: pool_spec_tensor(t, spec))


def _ops() -> dict[str, Any]:
    from .ops import OPS

    return OPS


@_memory_guard
def adaptive_pool(
    image: ImageOrTensor,
    size: int | tuple[int | None, int | None] | str,
    reduce: str = "avg",
    device: str | torch.device = "cpu",
) -> ImageOrTensor:
    """Adaptive pooling to a given output size (PyTorch's ``adaptive_*_pool2d``).

    Output cell ``i`` of ``m`` along an axis of length ``n`` reduces input
    cells ``floor(i*n/m)`` to ``ceil((i+1)*n/m) - 1``. The same as
    ``pool(image, "adaptive", size=size, reduce=reduce)``.

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

    Notes
    -----
    Not a training layer: pooled without autograd, as :func:`pool`; the
    result never requires grad.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.adaptive_pool(np.arange(10, dtype=np.uint8).reshape(2, 5), (1, 2), "max")
    array([[7, 9]], dtype=uint8)
    """
    spec = PoolSpec.make("adaptive", size=size, reduce=reduce)
    return _apply(image, device, lambda t: pool_spec_tensor(t, spec))


@_memory_guard
def global_pool(image: ImageOrTensor, reduce: str = "avg", device: str | torch.device = "cpu") -> ImageOrTensor:
    """Global pooling: one value per channel (GAP for ``reduce="avg"``).

    Returns
    -------
    ndarray of shape (C,) for an image ((1,) for a 2-D image), or a Tensor of
    shape (N, C). ``max``/``min`` keep the dtype; ``avg`` is the float64 mean.

    Notes
    -----
    Not a training layer: reduced without autograd, as :func:`pool`; the
    result never requires grad.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.global_pool(np.array([[0, 1], [2, 4]], dtype=np.uint8), "avg")
    array([1.75])
    """
    spec = PoolSpec.make("global", reduce=reduce)
    if isinstance(image, np.ndarray):
        t = to_tensor(image, resolve_device(device))
        with _no_grad():
            return global_kernel(t, spec)[0].cpu().numpy()
    with _no_grad():
        return global_kernel(_check_tensor(image), spec)


def pool_spec_tensor(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """Pool an (N, C, H, W) tensor as ``spec`` says, with the engine its op declares.

    Window ops the registry marks ``separable`` go through the banded
    separable engine (:func:`pool_tensor`); every other op through the
    kernel named in its declaration, a function ``(x, spec) -> Tensor`` of
    this module.
    """
    info = spec.info
    if info.separable is not None:
        return pool_tensor(x, spec)
    assert info.kernel is not None, f"{info.name} declares neither a separable combine nor a kernel"
    kernel: Callable[[torch.Tensor, PoolSpec], torch.Tensor] = globals()[info.kernel]
    return kernel(x, spec)


def adaptive_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``adaptive``."""
    assert spec.size is not None
    return adaptive_pool_tensor(x, spec.size, spec.param("reduce"))


def global_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``global``: (N, C, H, W) to (N, C)."""
    return global_pool_tensor(x, spec.param("reduce"))


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
    tile = _tiling_average(x, spec, rows, cols) if _on_cpu(x) else None
    if tile == (2, 2) and _cpu.avg2_into(x, out, band_rows):
        return out
    if tile is not None and tile != (2, 2) and _cpu.area_into(x, out, *tile):
        return out
    step = band_rows or _band_rows(x, rows, cols, red)
    scratch = _Scratch.make(x, rows, cols, red, min(step, rows.out))
    div = _divisor(x, rows, cols, red) if red.sums else 1
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
    with _no_grad():
        if isinstance(image, np.ndarray):
            t = to_tensor(image, resolve_device(device))
            return to_image(fn(t), image.ndim)
        return fn(_check_tensor(image))


def _no_grad() -> Any:
    """Pooling here is not a layer to train: no autograd graph, whatever the input asks."""
    import torch

    return torch.no_grad()


def _check_tensor(x: object) -> torch.Tensor:
    """``x`` checked, and detached from autograd (a view: no copy)."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise ImageShapeError(f"expected a numpy array or a torch.Tensor, got {type(x).__name__}")
    if x.layout != torch.strided:
        raise ImageShapeError(f"unsupported tensor layout {x.layout}: expected a dense (strided) tensor")
    x = x.detach()
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


def _tiling_average(x: torch.Tensor, spec: PoolSpec, rows: AxisPlan, cols: AxisPlan) -> tuple[int, int] | None:
    """The kernel of an 8- or 16-bit average whose windows tile the image (OpenCV's INTER_AREA), else None.

    Kernel = stride, no padding, no partial window, the divisor the window's area.
    """
    if spec.op != "avg":
        return None
    import torch

    kh, kw = spec.kernel
    tiles = (
        x.dtype in (torch.uint8, torch.uint16)
        and spec.stride == spec.kernel
        and rows.dilation == cols.dilation == 1
        and spec.divisor in (None, kh * kw)
        and rows.before == cols.before == 0
        and _after(rows, x.shape[2]) == _after(cols, x.shape[3]) == 0
    )
    return (kh, kw) if tiles else None


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
        if spec.info.separable == "sum":
            # Input rows are widened once, so every add is same-dtype and vectorised.
            taps = spec.kernel[0] * spec.kernel[1]
            work = _sum_dtype(x.dtype, taps, spec.divisor or taps)
            return cls(spec, work, work, 0, layout, per_channel)
        band = torch.int16 if x.dtype == torch.uint16 else x.dtype
        return cls(spec, band, band, _extreme(band, lowest=spec.info.separable == "max"), layout, per_channel)

    @property
    def sums(self) -> bool:
        """Whether windows are summed (and divided), as for an average."""
        return self.spec.info.separable == "sum"

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
        fn: Any = {"max": torch.maximum, "min": torch.minimum, "sum": torch.add}[self.spec.info.separable or ""]
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
        if red.sums:
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
    if red.sums:
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


# --- beyond max, avg and min: median, Lp, blur, SoftPool, stochastic, fractional, indices -----------
#
# Each kernel here is named by its op's entry in poolcli.ops and computes what the function of the
# same idea in poolcli.reference defines, with torch ops that run on any device. Windows placed as
# max_pool2d places them are read as kh * kw strided views ("taps") of the image, padded once; a
# padded cell is told apart by its position (a per-axis mask), never by its value.


@dataclass(frozen=True)
class _Windows:
    """Where the windows of a spec with PyTorch's geometry fall on an image of ``height x width``.

    ``rows[i][o]`` is the input row under tap row ``i`` of output row ``o`` (outside
    ``0..height-1`` when it lies in the padding or past a ceil-mode edge), ``cols[j][o]`` the
    same for columns; taps are visited in row-major order, tap ``t`` being row ``t // kw``,
    column ``t % kw``.
    """

    rows: list[list[int]]
    cols: list[list[int]]
    height: int
    width: int

    @classmethod
    def make(cls, spec: PoolSpec, height: int, width: int) -> _Windows:
        rows, cols = spec.plan(height, width)
        return cls(
            [[o * rows.stride + i * rows.dilation - rows.before for o in range(rows.out)] for i in range(rows.kernel)],
            [[o * cols.stride + j * cols.dilation - cols.before for o in range(cols.out)] for j in range(cols.kernel)],
            height,
            width,
        )

    @property
    def taps(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def out(self) -> tuple[int, int]:
        return (len(self.rows[0]), len(self.cols[0]))

    def row_counts(self) -> list[int]:
        """Per output row, how many of its tap rows lie inside the image."""
        return [sum(0 <= tap[o] < self.height for tap in self.rows) for o in range(self.out[0])]

    def col_counts(self) -> list[int]:
        return [sum(0 <= tap[o] < self.width for tap in self.cols) for o in range(self.out[1])]

    def counts(self, device: torch.device) -> torch.Tensor:
        """How many cells of each window lie inside the image, an int64 (OH, OW) tensor."""
        import torch

        rows = torch.tensor(self.row_counts(), dtype=torch.int64, device=device)
        return rows[:, None] * torch.tensor(self.col_counts(), dtype=torch.int64, device=device)[None, :]

    def inside(self, t: int, start: int, stop: int, device: torch.device) -> torch.Tensor | None:
        """Whether tap ``t`` of the windows of output rows ``start:stop`` lies inside the image, (rows, OW) bool;
        None when it always does."""
        import torch

        rows = self.rows[t // len(self.cols)][start:stop]
        cols = self.cols[t % len(self.cols)]
        if min(rows) >= 0 and max(rows) < self.height and cols[0] >= 0 and cols[-1] < self.width:
            return None
        row_ok = torch.tensor([0 <= r < self.height for r in rows], device=device)
        return row_ok[:, None] & torch.tensor([0 <= q < self.width for q in cols], device=device)[None, :]

    def positions(self, t: int, start: int, stop: int, device: torch.device) -> torch.Tensor:
        """``row * width + col`` of tap ``t`` of the windows of output rows ``start:stop``, (rows, OW) int64."""
        import torch

        rows = torch.tensor(self.rows[t // len(self.cols)][start:stop], device=device)
        cols = torch.tensor(self.cols[t % len(self.cols)], device=device)
        return rows[:, None] * self.width + cols[None, :]


def _tap_bands(
    x: torch.Tensor,
    spec: PoolSpec,
    work: torch.dtype,
    fill: float | int,
    prepare: Callable[[torch.Tensor], Any] | None = None,
) -> Iterator[tuple[int, int, list[torch.Tensor]]]:
    """The taps of a PyTorch-geometry spec's windows, band of output rows by band: ``(start, stop, taps)``.

    ``taps[t]`` is tap ``t`` (row-major in the window) of every window of output rows
    ``start:stop``, an (N, C, stop - start, OW) tensor of dtype ``work``; padded cells hold
    ``fill``. ``prepare`` may change each band's cells in place (a power, a scale) before the
    taps are read.

    How: the input rows a band needs are copied once into a planar buffer split into
    ``stride`` column phases (phase ``p`` holds padded columns ``p, p + s, p + 2s ...``), so
    every tap is a view whose last dimension is contiguous, and element-wise ops on it are
    vectorised; on the CPU a band's buffers stay within about :data:`BAND_BYTES`, on a GPU the
    whole batch is one band.
    """
    import torch

    n, c, h, w = x.shape
    rows, cols = spec.plan(h, w)
    (sh, sw), (dh, dw) = (rows.stride, cols.stride), (rows.dilation, cols.dilation)
    kh, kw, out_w = rows.kernel, cols.kernel, cols.out
    before, padded_w = cols.before, cols.before + w + _after(cols, w)
    phase_w = -(-padded_w // sw)
    itemsize = torch.empty((), dtype=work).element_size()
    per_row = sw * n * c * sh * phase_w * itemsize + 4 * n * c * out_w * 8  # the buffer, and a few results
    step = rows.out if not _on_cpu(x) else max(1, min(rows.out, BAND_BYTES // max(1, per_row)))
    span = (step - 1) * sh + (kh - 1) * dh + 1
    (flat,) = _empty(x, torch.contiguous_format, ((sw * n, c, span, phase_w), work))
    buffer = flat.view(sw, n, c, span, phase_w)
    buffer.fill_(fill)  # the columns outside the image keep it; rows outside are refilled per band
    # per phase: the phase columns m0:m1 that lie in the image, and the input column of m0
    phases = []
    for p in range(sw):
        m0 = max(0, -(-(before - p) // sw))
        m1 = min(phase_w, -(-(before + w - p) // sw))
        phases.append((p, m0, m1, p + m0 * sw - before))
    for start in range(0, rows.out, step):
        stop = min(start + step, rows.out)
        count = (stop - start - 1) * sh + (kh - 1) * dh + 1
        first = start * sh - rows.before  # the band's first input row (maybe in the padding)
        lo, hi = max(first, 0), min(first + count, h)
        band = buffer[:, :, :, :count]
        if lo - first > 0:
            band[:, :, :, : lo - first].fill_(fill)
        if hi - first < count:
            band[:, :, :, max(hi - first, 0) :].fill_(fill)
        if hi > lo:
            for p, m0, m1, col in phases:
                if m1 > m0:
                    band[p, :, :, lo - first : hi - first, m0:m1].copy_(
                        x[:, :, lo:hi, col : col + (m1 - m0 - 1) * sw + 1 : sw]
                    )
        if prepare is not None:
            prepare(band)
        taps = []
        for i in range(kh):
            r0 = i * dh
            for j in range(kw):
                c0 = j * dw
                taps.append(band[c0 % sw, :, :, r0 : r0 + (stop - start - 1) * sh + 1 : sh,
                                 c0 // sw : c0 // sw + out_w])  # fmt: skip
        yield start, stop, taps


def _output_like(x: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised result of ``shape`` (N, C, OH, OW) in ``x``'s memory format."""
    import torch

    layout = torch.channels_last if x.shape[1] > 1 and x.stride(1) == 1 else torch.contiguous_format
    (out,) = _empty(x, layout, (shape, dtype))
    return out


def _refuse_negative(x: torch.Tensor, what: str) -> None:
    """Raise :class:`ImageShapeError` (``what``, and the lowest value) if ``x`` holds a value below 0."""
    import torch

    if x.dtype in (torch.uint8, torch.uint16):
        return
    lowest = x.min().item()
    if lowest < 0:
        raise ImageShapeError(f"{what}; this image's lowest value is {lowest:g}", shape=tuple(x.shape))


def _from_float64(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A float64 result as ``dtype``: integers rounded half to even (``torch.round``), then clipped."""
    import torch

    if dtype.is_floating_point:
        return y.to(dtype)
    lo, hi = _range(dtype)
    y = y.round().clamp_(lo, hi)
    if dtype == torch.uint16:
        return y.to(torch.int32).to(dtype)
    return y.to(dtype)


def _geometry_spec(op: str, spec: PoolSpec, **changes: Any) -> PoolSpec:
    """``spec``'s windows for another op (``max``, ``avg`` ...): the window knobs both take, and ``changes``."""
    from .ops import OPS

    shared = OPS[op].knobs & spec.info.knobs & {"kernel", "stride", "padding", "dilation", "ceil_mode"}
    return PoolSpec.make(op, **{name: getattr(spec, name) for name in shared}, **changes)


def _uniforms(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The random numbers a seed stands for: ``numpy.random.default_rng(seed).random(shape)``, float64 in [0, 1).

    Drawn on the host from the seed alone, so they do not depend on the device, the engine,
    the threads, or which other images share a batch.
    """
    return np.random.default_rng(seed).random(shape)


def op_details(spec: PoolSpec, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """What lies behind a result of ``spec`` on an image of ``shape`` (H, W[, C]) beyond its knobs: its random draws.

    The function the op's ``details`` names (None for ops without one); ``--report`` writes it.
    """
    name = spec.info.details
    if name is None:
        return None
    function: Callable[[PoolSpec, tuple[int, ...]], dict[str, Any] | None] = globals()[name]
    return function(spec, shape)


# --- where the max came from: indices and unpooling -------------------------------------------


def pool_indices_tensor(x: torch.Tensor, spec: PoolSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Max (or min) pooling of an (N, C, H, W) tensor, and where each output's value came from.

    PyTorch's rule (``max_pool2d(..., return_indices=True)``): the index is ``row * W + col`` in
    the unpadded input plane; a window's taps are visited row by row, and a tap wins when it is
    strictly larger (smaller, for min) than the best so far, or NaN. So among equal values the
    first in row-major order wins, and among NaNs the last. A window with no cell inside the
    image (only possible with dilation) keeps the padding's value and, as in PyTorch, the index
    of its first tap at or after row 0 and column 0.

    Returns
    -------
    (pooled, indices) : Tensors of shape (N, C, OH, OW); ``x``'s dtype, and int64.
    """
    import torch

    lowest_fill = spec.op == "max"
    y, undo = _ordered(x)
    fill = _extreme(y.dtype, lowest=lowest_fill)  # padded cells hold it, and it never beats the best so far
    windows = _Windows.make(spec, x.shape[2], x.shape[3])
    n, c, device = x.shape[0], x.shape[1], x.device
    (out_h, out_w), k, kw = windows.out, windows.taps, len(windows.cols)
    values = _output_like(x, (n, c, out_h, out_w), x.dtype)
    index = _output_like(x, (n, c, out_h, out_w), torch.int64)
    # per tap t (and t = k: no tap won, PyTorch's first tap inside), the row / column of every output
    row_of = torch.tensor([*(windows.rows[t // kw] for t in range(k)),
                           [_first_inside(r, spec.dilation[0]) for r in windows.rows[0]]], device=device)  # fmt: skip
    col_of = torch.tensor([*(windows.cols[t % kw] for t in range(k)),
                           [_first_inside(q, spec.dilation[1]) for q in windows.cols[0]]], device=device)  # fmt: skip
    better = torch.gt if lowest_fill else torch.lt
    keep = torch.maximum if lowest_fill else torch.minimum  # NaN stays, as PyTorch's rule keeps the last NaN
    winner_dtype = torch.int16 if k < 2**15 else torch.int32
    for start, stop, taps in _tap_bands(y, spec, y.dtype, fill):
        shape = (n, c, stop - start, out_w)
        best = torch.full(shape, fill, dtype=y.dtype, device=device)
        winner = torch.full(shape, k, dtype=winner_dtype, device=device)
        for t, tap in enumerate(taps):
            take = better(tap, best)
            if y.dtype.is_floating_point:
                take |= torch.isnan(tap)
            winner.masked_fill_(take, t)
            keep(best, tap, out=best)
        flat = winner.view(n * c, stop - start, out_w).to(torch.int64)
        rows = row_of[:, start:stop, None].expand(k + 1, stop - start, out_w).gather(0, flat)
        cols = col_of[:, None, :].expand(k + 1, stop - start, out_w).gather(0, flat)
        values[:, :, start:stop] = undo(best)
        index[:, :, start:stop] = (rows * x.shape[3] + cols).view(shape)
    return values, index


def _first_inside(start: int, dilation: int) -> int:
    """The first tap at or after 0 of a window whose first tap is ``start`` (PyTorch's ``ih0``)."""
    while start < 0:
        start += dilation
    return start


def unpool(
    pooled: ImageOrTensor, indices: ImageOrTensor, size: PairLike, device: str | torch.device = "cpu"
) -> ImageOrTensor:
    """Put each pooled value back where it came from, zeros elsewhere (PyTorch's ``max_unpool2d``).

    Parameters
    ----------
    pooled : ndarray (OH, OW) or (OH, OW, C), or Tensor (N, C, OH, OW)
        Values from :func:`pool` with ``return_indices=True``.
    indices : ndarray or Tensor of the same shape, integers
        Flat indices ``row * W + col`` into the (H, W) plane they came from.
    size : int, (H, W) or "HxW"
        The plane's size.
    device : as in :func:`pool`, for NumPy arrays.

    Returns
    -------
    ndarray (H, W[, C]) or Tensor (N, C, H, W), ``pooled``'s dtype. Where several outputs came
    from one cell (overlapping windows), that cell gets their common value.

    Raises
    ------
    ImageShapeError
        ``pooled`` and ``indices`` differ in shape, or an index lies outside the plane.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> image = np.array([[1, 5, 2, 0], [3, 4, 8, 1]], dtype=np.uint8)
    >>> pooled, where = poolcli.pool(image, "max", return_indices=True)
    >>> pooled, where
    (array([[5, 8]], dtype=uint8), array([[1, 6]]))
    >>> poolcli.unpool(pooled, where, size=image.shape)
    array([[0, 5, 0, 0],
           [0, 0, 8, 0]], dtype=uint8)
    """
    import torch

    from .spec import parse_pair

    h, w = parse_pair(size if not isinstance(size, tuple) else (int(size[0]), int(size[1])), "size")
    with _no_grad():
        if isinstance(pooled, np.ndarray):
            if not isinstance(indices, np.ndarray) or indices.shape != pooled.shape:
                raise ImageShapeError(f"indices of shape {getattr(indices, 'shape', None)} for values of shape "
                                      f"{pooled.shape}: they must match")  # fmt: skip
            values = to_tensor(pooled, resolve_device(device))
            where = np.ascontiguousarray(indices if indices.ndim == 3 else indices[:, :, None]).astype(np.int64)
            index = torch.from_numpy(where).permute(2, 0, 1)[None].to(values.device)
            return to_image(unpool_tensor(values, index, (h, w)), pooled.ndim)
        return unpool_tensor(_check_tensor(pooled), indices, (h, w))  # type: ignore[arg-type]


def unpool_tensor(values: torch.Tensor, index: torch.Tensor, size: tuple[int, int], check: bool = True) -> torch.Tensor:
    """:func:`unpool` of an (N, C, OH, OW) tensor and its int64 indices: an (N, C, H, W) tensor.

    The result has ``values``' memory format (a channels-last input gives a channels-last
    result). ``check=False`` skips the checks, for indices made by :func:`pool_indices_tensor`.
    """
    import torch

    if check and (tuple(index.shape) != tuple(values.shape) or index.dtype.is_floating_point):
        raise ImageShapeError(f"indices of shape {tuple(index.shape)} and dtype {index.dtype} for values of shape "
                              f"{tuple(values.shape)}: they must be integers of the same shape")  # fmt: skip
    h, w = size
    n, c = values.shape[:2]
    channels_last = c > 1 and values.stride(1) == 1 and index.stride(1) == 1
    # scatter along the flat (row, col) axis, in whichever layout the tensors already have
    flat_values = values.permute(0, 2, 3, 1).reshape(n, -1, c) if channels_last else values.reshape(n, c, -1)
    flat_index = (index.permute(0, 2, 3, 1).reshape(n, -1, c) if channels_last else index.reshape(n, c, -1)).to(
        torch.int64
    )
    if check and flat_index.numel():
        low, high = torch.aminmax(flat_index)
        if int(low) < 0 or int(high) >= h * w:
            raise ImageShapeError(f"an index lies outside a plane of {h}x{w} (0 to {h * w - 1})")
    # scatter moves bits: uint16, which has few torch kernels, travels as int16
    carried = flat_values.view(torch.int16) if values.dtype == torch.uint16 else flat_values
    if channels_last:
        out = torch.zeros((n, h * w, c), dtype=carried.dtype, device=values.device)
        out.scatter_(1, flat_index, carried)
        out = out.view(n, h, w, c).permute(0, 3, 1, 2)
    else:
        out = torch.zeros((n, c, h * w), dtype=carried.dtype, device=values.device)
        out.scatter_(2, flat_index, carried)
        out = out.view(n, c, h, w)
    return out.view(torch.uint16) if values.dtype == torch.uint16 else out


def unpool_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``unpool``: pool with indices, then put the winners back (input's size).

    A window with no cell inside the image (only possible with dilation) puts nothing back.
    """
    pooling = _geometry_spec(spec.param("reduce"), spec)
    values, index = pool_indices_tensor(x, pooling)
    h, w = x.shape[2], x.shape[3]
    empty = _Windows.make(pooling, h, w).counts(x.device) == 0
    if bool(empty.any()):
        index = index.masked_fill(empty, h * w)  # a spare cell past the plane, cut off below
        spare = unpool_tensor(values.contiguous(), index.contiguous(), (h * w + 1, 1), check=False)
        return spare.reshape(x.shape[0], x.shape[1], -1)[:, :, : h * w].reshape(x.shape)
    return unpool_tensor(values, index, (h, w), check=False)


# --- median -----------------------------------------------------------------------------------

#: Largest window whose median a sorting network computes; larger ones are sorted.
NETWORK_TAPS = 64


def median_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``median``: each window's median over its cells inside the image.

    With ``n`` cells, the lower median is the ``(n - 1) // 2``-th smallest (0-based, as
    ``torch.median``); ``even="mean"`` takes the mean of it and the ``n // 2``-th, in float64
    for floats and exactly, rounded half to even, for integers. A window with no cell inside the
    image (possible only with dilation) gives 0.

    How: whole windows go through a sorting network pruned to the middle ranks (element-wise
    ``minimum``/``maximum`` of the taps, so it stays in the image's dtype on any device); the
    few windows at the edges that padding or ceil mode cut short are sorted on their own.
    """
    import torch

    y, undo = _ordered(x)
    high = _extreme(y.dtype, lowest=False)  # padded cells sort after every real one
    windows = _Windows.make(spec, x.shape[2], x.shape[3])
    k = windows.taps
    mean = spec.param("even") == "mean"
    ranks = tuple(sorted({(k - 1) // 2, k // 2} if mean else {(k - 1) // 2}))
    counts = windows.counts(x.device)
    short_rows = [n < len(windows.rows) for n in windows.row_counts()]
    short_cols = _runs([n < len(windows.cols) for n in windows.col_counts()])
    out = _output_like(x, (x.shape[0], x.shape[1], *windows.out), x.dtype)
    for start, stop, taps in _tap_bands(y, spec, y.dtype, high):
        band_counts = counts[start:stop]
        if k <= NETWORK_TAPS:
            picked = _network_select(taps, ranks)
            lower, upper = picked[ranks[0]], picked[ranks[-1]]
            if mean and upper is lower:  # odd windows; the short ones at the edges may be even
                upper = lower.clone()
            regions = _short_regions(short_rows[start:stop], short_cols)
        else:
            lower = upper = None  # type: ignore[assignment]  # no short windows: nothing to sort apart
            regions = [(slice(None), slice(None))]
        for rows, cols in regions:
            lo, up = _median_by_sorting(taps, rows, cols, band_counts[rows, cols])
            if lower is None or upper is None:
                lower, upper = lo, up
                continue
            lower[:, :, rows, cols] = lo
            if mean:
                upper[:, :, rows, cols] = up
        assert lower is not None and upper is not None
        result = _mean_of_two(undo(lower), undo(upper), x.dtype) if mean else undo(lower)
        empty = band_counts == 0
        if bool(empty.any()):
            # zero is zero in any dtype's bits; uint16, which has few torch kernels, is filled as int16
            bits = result.view(torch.int16) if result.dtype == torch.uint16 else result
            result = bits.masked_fill(empty, 0).view(result.dtype)
        out[:, :, start:stop] = result
    return out


def _short_regions(short_rows: list[bool], short_cols: list[tuple[bool, slice]]) -> list[tuple[slice, slice]]:
    """Rectangles covering the outputs whose windows lose cells to padding or ceil mode: whole short rows, then
    the short columns (runs, from :func:`_runs`) of the other rows."""
    regions = []
    for short, rows in _runs(short_rows):
        if short:
            regions.append((rows, slice(None)))
        else:
            regions += [(rows, cols) for short_col, cols in short_cols if short_col]
    return regions


def _runs(flags: list[bool]) -> list[tuple[bool, slice]]:
    """Maximal runs of equal flags: ``[(flag, slice), ...]``."""
    runs: list[tuple[bool, slice]] = []
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            runs.append((flags[start], slice(start, i)))
            start = i
    return runs


def _median_by_sorting(
    taps: list[torch.Tensor], rows: slice, cols: slice, counts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The lower and upper middles of the windows ``[rows, cols]`` with ``counts`` cells each, by sorting their taps."""
    import torch

    stacked = torch.stack([tap[:, :, rows, cols] for tap in taps])  # (K, N, C, h, w); padding sorts last
    ordered = stacked.sort(dim=0).values
    shape = (1, *ordered.shape[1:])
    lower = ((counts - 1).clamp(min=0) // 2).expand(shape)
    upper = (counts // 2).clamp(max=len(taps) - 1).expand(shape)
    return ordered.gather(0, lower)[0], ordered.gather(0, upper)[0]


def _mean_of_two(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(a + b) / 2``: float64 for floats; for integers exact, rounded half to even."""
    import torch

    if dtype.is_floating_point:
        return ((a.to(torch.float64) + b.to(torch.float64)) / 2).to(dtype)
    if dtype != torch.int32:  # a sum of two 16-bit values and its half are exact in float32, and round half to even
        half = (a.to(torch.float32) + b.to(torch.float32)).mul_(0.5).round_()
        return half.to(torch.int32).to(dtype) if dtype == torch.uint16 else half.to(dtype)
    wide = (a.to(torch.int32) if a.dtype == torch.uint16 else a).to(torch.int64)
    total = wide + (b.to(torch.int32) if b.dtype == torch.uint16 else b).to(torch.int64)
    half = torch.div(total, 2, rounding_mode="floor")
    half += (total & 1) & (half & 1)  # a tie (odd total) goes to the even neighbour
    return half.to(torch.int32).to(dtype) if dtype == torch.uint16 else half.to(dtype)


def _network_select(wires: list[torch.Tensor], ranks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """The ``ranks``-th smallest (0-based) of ``wires``, element-wise, by a pruned sorting network.

    The results are new tensors (never one of ``wires``).
    """
    import torch

    values: list[torch.Tensor] = list(wires)
    for i, j, low, high in _selection_network(len(wires), ranks):
        a, b = values[i], values[j]
        if low:
            values[i] = torch.minimum(a, b)
        if high:
            values[j] = torch.maximum(a, b)
    return {r: values[r] if not any(values[r] is w for w in wires) else values[r].clone() for r in ranks}


@functools.lru_cache(maxsize=64)
def _selection_network(n: int, ranks: tuple[int, ...]) -> tuple[tuple[int, int, bool, bool], ...]:
    """Batcher's odd-even merge sort for ``n`` wires, pruned to what the output ``ranks`` need.

    Each step ``(i, j, low, high)`` compares wires ``i < j``; ``low``: wire ``i`` takes the
    minimum, ``high``: wire ``j`` the maximum (a side nothing later reads is not computed).
    Wires past ``n`` (up to a power of two) hold +infinity, so comparisons with them are dropped.
    """
    size = 1
    while size < n:
        size *= 2
    steps: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < n:
                        steps.append((i + j, i + j + k))
            k //= 2
        p *= 2
    needed = set(ranks)
    kept = []
    for i, j in reversed(steps):
        low, high = i in needed, j in needed
        if low or high:
            kept.append((i, j, low, high))
            needed |= {i, j}
    return tuple(reversed(kept))


# --- Lp ----------------------------------------------------------------------------------------


def lp_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``lp``: PyTorch's ``lp_pool2d``, ``(avg_pool2d(x^p) * kh * kw)^(1/p)``.

    The average divides by the cells inside the image, so a window that ceil mode cuts short
    is scaled up to a whole window, as PyTorch scales it. ``p = inf`` is the max of ``|x|``
    (PyTorch's special case). Computed in float64; integer images rounded half to even and
    clipped. Negative values: refused with a fractional power; with an integer power a window
    whose power sum is negative gives NaN (PyTorch's answer) on a float image and is refused on
    an integer image; ``abs=True`` pools ``|x|``.
    """
    import torch

    p = float(spec.param("power"))
    dtype, integral = x.dtype, not x.dtype.is_floating_point
    bound = max(-_range(dtype)[0], _range(dtype)[1]) if integral else None
    if math.isinf(p):
        high = pool_tensor(x, _geometry_spec("max", spec))
        if x.dtype in (torch.uint8, torch.uint16):
            return high
        low = pool_tensor(x, _geometry_spec("min", spec))
        wide = torch.float64 if not integral else torch.int64
        largest = torch.maximum(high.to(wide), low.to(wide).neg())
        return largest.to(x.dtype) if not integral else largest.clamp_(max=_range(x.dtype)[1]).to(x.dtype)
    use_abs = bool(spec.param("abs"))
    if not use_abs and not p.is_integer():
        _refuse_negative(x, f"lp pooling with power {p:g} needs values of at least 0 (PyTorch gives NaN for x^p of "
                            "x < 0); use abs=True (--abs) for the Lp norm of |x|")  # fmt: skip
    windows = _Windows.make(spec, x.shape[2], x.shape[3])
    # integer powers of small integers, and their window sums, are exact in int32: converted once summed
    exact = bound is not None and p.is_integer() and windows.taps * bound ** int(p) < 2**31
    power: float | int = int(p) if exact else p

    def powers(band: torch.Tensor) -> None:
        if use_abs:
            band.abs_()
        if power == 2:
            band.mul_(band)  # as exact as pow, and vectorised for integers
        else:
            band.pow_(power)

    counts = windows.counts(x.device).to(torch.float64)
    out = _output_like(x, (x.shape[0], x.shape[1], *windows.out), dtype)
    for start, stop, taps in _tap_bands(x, spec, torch.int32 if exact else torch.float64, 0, powers):
        total = taps[0].clone()
        for tap in taps[1:]:
            total.add_(tap)  # padding and ceil-mode overhang hold 0, which adds nothing
        # PyTorch's order: the average over the cells inside, times the whole window, to the 1/p
        result = total.to(torch.float64).div_(counts[start:stop]).mul_(windows.taps).pow_(1.0 / p)
        if integral and bool(torch.isnan(result).any()):
            raise ImageShapeError(
                f"lp pooling with power {p:g}: a window's sum of x^{p:g} is negative, so its root is not real "
                "(PyTorch gives NaN), and an integer image cannot hold NaN; use abs=True (--abs) for the Lp norm of |x|",
                shape=tuple(x.shape),
            )
        out[:, :, start:stop] = _from_float64(result, dtype)
    return out


# --- blur pooling ------------------------------------------------------------------------------


def blur_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``blur``: binomial blur, then every ``stride``-th pixel (see :func:`blur_tensor`)."""
    return blur_tensor(x, spec.kernel, spec.stride, spec.param("pad_mode"))


def maxblur_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``maxblur``: max pooling at stride 1 over ``max_size`` cells, then :func:`blur_tensor`."""
    m = int(spec.param("max_size"))
    peaks = pool_tensor(x, PoolSpec.make("max", kernel=m, stride=1))
    return blur_tensor(peaks, spec.kernel, spec.stride, spec.param("pad_mode"))


def binomial(k: int) -> list[int]:
    """Row ``k - 1`` of Pascal's triangle: the binomial filter of ``k`` taps (sum ``2 ** (k - 1)``).

    >>> binomial(3), binomial(5)
    ([1, 2, 1], [1, 4, 6, 4, 1])
    """
    return [math.comb(k - 1, i) for i in range(k)]


def blur_tensor(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], pad_mode: str) -> torch.Tensor:
    """Blur an (N, C, H, W) tensor with the binomial filter ``kernel`` and keep every ``stride``-th pixel.

    The filter is the outer product of two binomial rows (``[1, 2, 1]`` for 3), with integer
    weights summing to ``2 ** ((kh - 1) + (kw - 1))``. Along each axis the input is padded
    ``(k - 1) // 2`` cells before and ``k // 2`` after (kornia's and antialiased-cnns'
    placement), so output ``i`` is centred on input ``i * s`` and there are ``ceil(n / s)``
    outputs; the padding mirrors the image without repeating the edge cell (``reflect``), is
    zero (``zero``) or repeats the edge cell (``replicate``).

    Integer images: the weighted sum is an exact integer, divided by its power of two and
    rounded half to even. Floats: the sum in float64, scaled exactly, cast back.

    How: two separable passes, rows then columns, each computing only the rows (columns) the
    stride keeps; the interior of each tap is one strided view, the few padded cells are read
    from the cells they mirror.
    """
    import torch

    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (h - 1) // sh + 1, (w - 1) // sw + 1
    shift = (kh - 1) + (kw - 1)
    if x.dtype.is_floating_point:
        work = torch.float64
    else:
        bound = max(-_range(x.dtype)[0], _range(x.dtype)[1]) << shift
        work = torch.int16 if bound < 2**15 else torch.int32 if bound < 2**31 else torch.int64
    layout = torch.channels_last if c > 1 and x.stride(1) == 1 else torch.contiguous_format
    source = x if x.dtype != torch.uint16 else x.to(torch.int32)  # few torch kernels take uint16
    rows, cols = _empty(x, layout, ((n, c, oh, w), work), ((n, c, oh, ow), work))
    _blur_axis(source, rows, 2, binomial(kh), sh, pad_mode)
    _blur_axis(rows, cols, 3, binomial(kw), sw, pad_mode)
    if x.dtype.is_floating_point:
        return cols.mul_(2.0**-shift).to(x.dtype)
    exact = torch.float32 if (bound >> 0) < 2**24 else torch.float64
    quotient = cols.to(exact).mul_(2.0**-shift).round_()  # a power of two: exact, then half to even
    if x.dtype == torch.uint16:
        return quotient.to(torch.int32).to(x.dtype)
    return quotient.to(torch.int16).to(x.dtype) if x.dtype == torch.uint8 else quotient.to(x.dtype)


def _blur_axis(src: torch.Tensor, dst: torch.Tensor, dim: int, weights: list[int], stride: int, mode: str) -> None:
    """``dst`` (along ``dim``, every ``stride``-th position) = the ``weights``-weighted sum of ``src``'s padded cells."""
    length, out, before = src.shape[dim], dst.shape[dim], (len(weights) - 1) // 2
    first = True
    for t, weight in enumerate(weights):
        positions = [o * stride - before + t for o in range(out)]
        inside = [o for o, q in enumerate(positions) if 0 <= q < length]
        lo, hi = (inside[0], inside[-1] + 1) if inside else (0, 0)  # the outputs whose tap t is in the image: a run
        pieces = []
        if inside:
            span = src.narrow(dim, positions[lo], positions[hi - 1] - positions[lo] + 1)
            pieces.append((lo, hi, span[(slice(None),) * dim + (slice(None, None, stride),)]))
        for o in [*range(lo), *range(hi, out)]:
            q = _mirror(positions[o], length, mode)
            if q is not None:
                pieces.append((o, o + 1, src.narrow(dim, q, 1)))
            elif first:
                dst.narrow(dim, o, 1).zero_()
        for start, stop, piece in pieces:
            target = dst.narrow(dim, start, stop - start)
            if first:
                target.copy_(piece)
                if weight != 1:
                    target.mul_(weight)
            elif weight == 1:
                target.add_(piece)
            else:
                target.add_(piece, alpha=weight)
        first = False


def _mirror(q: int, length: int, mode: str) -> int | None:
    """The cell a padded position ``q`` reads (None: zero), as ``numpy.pad``'s reflect / edge modes."""
    if mode == "zero":
        return None
    if mode == "replicate" or length == 1:
        return min(max(q, 0), length - 1)
    period = 2 * (length - 1)
    q %= period
    return q if q < length else period - q


# --- SoftPool ----------------------------------------------------------------------------------


def softpool_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``softpool``: ``sum(v * e^v) / sum(e^v)`` over each window's cells inside the image.

    Stable: ``e^(v - m)`` with ``m`` the window's max. Integer images: ``v`` is the value divided
    by the dtype's maximum (255, 65535, 127, ...), and the result is multiplied back, rounded
    half to even and clipped; floats are pooled as they are. float64 throughout; a window with
    no cell inside the image (only with dilation) gives 0.
    """
    import torch

    integral = not x.dtype.is_floating_point
    scale = float(_range(x.dtype)[1]) if integral else 1.0
    windows = _Windows.make(spec, x.shape[2], x.shape[3])
    out = _output_like(x, (x.shape[0], x.shape[1], *windows.out), x.dtype)
    for start, stop, taps in _tap_bands(
        x, spec, torch.float64, 0.0, (lambda band: band.div_(scale)) if integral else None
    ):
        inside = [windows.inside(t, start, stop, x.device) for t in range(len(taps))]
        peak = torch.full_like(taps[0], -math.inf)
        for tap, ok in zip(taps, inside):
            torch.maximum(peak, tap if ok is None else tap.masked_fill(~ok, -math.inf), out=peak)
        peak.masked_fill_(torch.isneginf(peak), 0.0)  # a window with no cell: its weights are all 0 below
        num = torch.zeros_like(peak)
        den = torch.zeros_like(peak)
        weight, product = torch.empty_like(peak), torch.empty_like(peak)
        for tap, ok in zip(taps, inside):
            torch.sub(tap, peak, out=weight).exp_()
            if ok is not None:
                weight.mul_(ok)
            num.add_(torch.mul(weight, tap, out=product))
            den.add_(weight)
        result = num.div_(den).masked_fill_(den == 0, 0.0)
        out[:, :, start:stop] = _from_float64(result.mul_(scale) if integral else result, x.dtype)
    return out


# --- stochastic pooling --------------------------------------------------------------------------


def stochastic_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``stochastic`` (non-negative images; padded cells take no part).

    ``mode="expected"``: ``sum(a^2) / sum(a)`` per window, 0 for an all-zero window; integers
    exactly, rounded half to even; floats in float64. ``mode="sample"``: with ``u`` the seed's
    uniform number for the window's channel and position (see :func:`stochastic_details`),
    the first cell, in row-major order, whose running sum exceeds ``u * sum(a)`` (float64), so
    cell ``i`` is drawn with probability ``a_i / sum(a)``; an all-zero window gives 0.

    Raises
    ------
    ImageShapeError
        The image has a negative value.
    """
    import torch

    _refuse_negative(x, "stochastic pooling needs values of at least 0 (each cell is drawn with probability "
                        "value / window sum)")  # fmt: skip
    windows = _Windows.make(spec, x.shape[2], x.shape[3])
    sample = spec.param("mode") == "sample"
    # sums of squares of 8- and 16-bit values are exact in float64, and so is rounding their quotient (a
    # quotient that is not a tie lies at least 1 / (2 * sum) from one, far more than float64's error);
    # int32 needs integer arithmetic
    exact = not sample and x.dtype == torch.int32
    if sample:
        u = torch.from_numpy(_uniforms(int(spec.param("seed")), (x.shape[1], *windows.out))).to(x.device)[None]
    out = _output_like(x, (x.shape[0], x.shape[1], *windows.out), x.dtype)
    for start, stop, taps in _tap_bands(x, spec, torch.int64 if exact else torch.float64, 0):  # padding adds 0
        if sample:
            result = _stochastic_sample(taps, u[:, :, start:stop])
        elif exact:
            result = _stochastic_expected_exact(taps)
        else:
            result = _stochastic_expected(taps)  # rounded half to even by _from_float64
        out[:, :, start:stop] = _from_float64(result, x.dtype) if result.dtype == torch.float64 else result
    return out


def _stochastic_expected(taps: list[torch.Tensor]) -> torch.Tensor:
    """``sum(a^2) / sum(a)`` in float64, summed in tap order; 0 where the sum is 0."""
    total = taps[0].clone()
    squares = taps[0] * taps[0]
    for a in taps[1:]:
        total.add_(a)
        squares.add_(a * a)
    return squares.div_(total).masked_fill_(total == 0, 0.0)


def _stochastic_expected_exact(taps: list[torch.Tensor]) -> torch.Tensor:
    """``sum(a^2) / sum(a)`` of int64 taps, exactly, rounded half to even; 0 where the sum is 0.

    ``q0 = round(sum a^2 / sum a)`` in float64 is within one of the answer, and the remainder
    ``sum a * (a - q0)`` is small; int64 arithmetic wraps, so it comes out exact even where the
    partial sums of ``a^2`` would not fit (int32 images). It then says which way to round.
    """
    import torch

    total = taps[0].clone()
    squares = taps[0].to(torch.float64) ** 2
    for a in taps[1:]:
        total.add_(a)
        squares.add_(a.to(torch.float64) ** 2)
    guess = squares.div_(total.to(torch.float64)).nan_to_num_(0.0).round_().to(torch.int64)
    rest = taps[0] * (taps[0] - guess)
    for a in taps[1:]:
        rest.add_(a * (a - guess))
    twice = rest.mul_(2)
    odd = (guess & 1).bool()
    up = (twice > total) | ((twice == total) & odd)
    down = (twice < -total) | ((twice == -total) & odd)
    return guess.add_(up.to(torch.int64)).sub_(down.to(torch.int64)).masked_fill_(total == 0, 0)


def _stochastic_sample(taps: list[torch.Tensor], u: torch.Tensor) -> torch.Tensor:
    """The first tap (row-major) with ``a > 0`` whose running float64 sum exceeds ``u * sum(a)``; else the last
    tap with ``a > 0``; 0 for an all-zero window.

    The running sum never decreases and grows only at cells above 0, so the tap drawn is the
    number of taps whose running sum stays at or below the threshold.
    """
    import torch

    total = taps[0].clone()
    for a in taps[1:]:
        total.add_(a)
    threshold = u * total
    running = torch.zeros_like(total)
    drawn = torch.zeros(total.shape, dtype=torch.int16, device=total.device)
    for a in taps:
        running.add_(a)
        drawn.add_(running <= threshold)
    result = torch.zeros_like(total)
    for t, a in enumerate(taps):
        result.add_(a * (drawn == t))
    missed = (drawn == len(taps)) & (total > 0)  # rounding kept u * sum from falling short of the sum
    if bool(missed.any()):
        last = torch.zeros_like(total)
        for a in taps:
            last = torch.where(a > 0, a, last)
        result = torch.where(missed, last, result)
    return result


def stochastic_details(spec: PoolSpec, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The draws behind sample mode: one uniform number per channel and output position.

    ``numpy.random.default_rng(seed).random((C, OH, OW))``: every image of a batch gets the same
    numbers, so an image's result depends on the image and the seed only (not on the device,
    the engine, the threads or the other images of its batch).
    """
    if spec.param("mode") != "sample":
        return None
    seed = int(spec.param("seed"))
    rows, cols = spec.output_size(shape[0], shape[1])
    channels = 1 if len(shape) == 2 else shape[2]
    return {"seed": seed, "draws": f"numpy.random.default_rng({seed}).random(({channels}, {rows}, {cols}))"}


# --- fractional max pooling ----------------------------------------------------------------------


def fractional_kernel(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """The registry's kernel for ``fractional``: PyTorch's ``fractional_max_pool2d``, with its samples from the seed.

    Each channel has two samples ``(u_w, u_h)`` (:func:`fractional_samples`); along an axis of
    ``n`` cells, ``m`` outputs and kernel ``k``, output ``i < m - 1`` starts at
    ``int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (n - k) / (m - 1)``, and the last
    at ``n - k`` (:func:`fractional_starts`); each output is the max of the ``k x k`` cells from
    there. The arithmetic is float32 for float32 images and float64 otherwise, as PyTorch does
    it in the input's dtype (it pools floats only; an integer image equals PyTorch on its
    float64 copy).
    """
    import torch

    n, c, h, w = x.shape
    oh, ow = spec.output_size(h, w)
    kh, kw = spec.kernel
    samples = fractional_samples(int(spec.param("seed")), c)
    dtype = np.float32 if x.dtype == torch.float32 else np.float64
    starts_h = torch.tensor(np.stack([fractional_starts(u, h, oh, kh, dtype) for u in samples[:, 1]]), device=x.device)
    starts_w = torch.tensor(np.stack([fractional_starts(u, w, ow, kw, dtype) for u in samples[:, 0]]), device=x.device)
    y, undo = _ordered(x)
    rows = None
    for t in range(kh):
        index = (starts_h + t)[None, :, :, None].expand(n, c, oh, w)
        tap = torch.gather(y, 2, index)
        rows = tap if rows is None else torch.maximum(rows, tap)
    assert rows is not None
    out = None
    for t in range(kw):
        index = (starts_w + t)[None, :, None, :].expand(n, c, oh, ow)
        tap = torch.gather(rows, 3, index)
        out = tap if out is None else torch.maximum(out, tap)
    assert out is not None
    return undo(out)


def fractional_samples(seed: int, channels: int) -> np.ndarray:
    """PyTorch's ``_random_samples`` for one image: ``numpy.random.default_rng(seed).random((channels, 2))``.

    Row ``c`` is ``(u_w, u_h)`` for channel ``c``; every image of a batch gets the same rows.
    """
    return _uniforms(seed, (channels, 2))


def fractional_starts(u: float, n: int, m: int, k: int, dtype: type = np.float64) -> np.ndarray:
    """Where fractional max pooling's ``m`` windows of ``k`` cells start along an axis of ``n`` (PyTorch's intervals).

    >>> fractional_starts(0.5, 10, 4, 2).tolist()
    [0, 3, 5, 8]
    """
    if m == 1:
        return np.array([n - k], dtype=np.int64)
    alpha = dtype(n - k) / dtype(m - 1)
    sample = dtype(u)
    starts = ((np.arange(m - 1).astype(dtype) + sample) * alpha).astype(np.int64) - int(sample * alpha)
    return np.append(starts, n - k).astype(np.int64)


def fractional_details(spec: PoolSpec, shape: tuple[int, ...]) -> dict[str, Any]:
    """The samples behind a fractional result: the seed and, per channel, PyTorch's ``(u_w, u_h)``."""
    channels = 1 if len(shape) == 2 else shape[2]
    seed = int(spec.param("seed"))
    return {"seed": seed, "samples": fractional_samples(seed, channels).tolist()}

"""Pooling parameters: parsing, validation and the output-size arithmetic.

Pure Python (no numpy, no torch), so the CLI can validate and ``info`` can
answer without importing anything heavy. Everything is in rows x columns
(height first), as PyTorch orders it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Union

from .errors import ImageShapeError, ParameterError

Pair = tuple[int, int]
PairLike = Union[int, tuple[int, int], list[int], str]
Padding = Union[Pair, Literal["same"]]
Op = Literal["max", "avg", "min"]
OPS: tuple[str, ...] = ("max", "avg", "min")
#: What ``poolcli compare --ops`` accepts (``adaptive`` is adaptive avg), and its default.
COMPARE_OPS: tuple[str, ...] = ("max", "avg", "min", "adaptive", "adaptive-max", "adaptive-min")
DEFAULT_COMPARE_OPS: tuple[str, ...] = ("max", "avg", "min", "adaptive")

_PAIR_RE = re.compile(r"^\s*(\d+)\s*(?:[xX×,]\s*(\d+)\s*)?$")


def parse_pair(value: PairLike, name: str) -> Pair:
    """Turn ``3``, ``"3"``, ``"2x3"`` or ``(2, 3)`` into ``(rows, cols)``.

    Raises
    ------
    ParameterError
        When the value is not one or two non-negative integers.
    """
    if isinstance(value, bool):
        raise ParameterError(name, value, "expected an integer or HxW")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return (int(value[0]), int(value[1]))
        raise ParameterError(name, value, "expected an integer or a pair of integers (rows, cols)")
    if isinstance(value, str):
        m = _PAIR_RE.match(value)
        if m:
            a = int(m.group(1))
            return (a, int(m.group(2)) if m.group(2) is not None else a)
        raise ParameterError(name, value, "expected an integer like 3 or HxW like 2x3")
    raise ParameterError(name, value, "expected an integer or HxW")


def parse_size(value: object, name: str = "size") -> tuple[int | None, int | None]:
    """Parse an adaptive output size: ``64``, ``"64x48"``, ``(64, None)``, ``"64x-"``.

    ``None`` (or ``-``/``none`` in a string) keeps that side of the input, as
    PyTorch's adaptive pooling does.
    """

    def side(v: object) -> int | None:
        if v is None:
            return None
        if isinstance(v, str):
            s = v.strip().lower()
            if s in ("-", "none", "_", ""):
                return None
            if s.isdigit():
                v = int(s)
            else:
                raise ParameterError(name, value, "expected N, HxW, or '-' for a side kept as is")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ParameterError(name, value, "each side must be a positive integer or '-'")
        return v

    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ParameterError(name, value, "expected (rows, cols)")
        return (side(value[0]), side(value[1]))
    if isinstance(value, str) and re.search(r"[xX×,]", value):
        a, b = re.split(r"[xX×,]", value, maxsplit=1)
        return (side(a), side(b))
    s = side(value)
    return (s, s)


@dataclass(frozen=True)
class AxisPlan:
    """How one axis is pooled.

    Window ``i`` starts at ``i * stride - before`` and has taps every
    ``dilation`` cells; ``before``/``after`` is the padding that takes part in
    the count for ``count_include_pad``; ``overhang`` is the extra room that
    ceil mode lets the last window reach past that padding (never counted).
    """

    length: int
    kernel: int
    stride: int
    dilation: int
    before: int
    after: int
    out: int

    @property
    def effective(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    @property
    def span(self) -> int:
        """Cells from the first window's start to the last window's end."""
        return (self.out - 1) * self.stride + self.effective

    @property
    def overhang(self) -> int:
        return max(0, self.span - self.before - self.length - self.after)


@dataclass(frozen=True)
class PoolSpec:
    """A validated set of pooling knobs (PyTorch's ``max_pool2d``/``avg_pool2d``).

    Build one with :meth:`PoolSpec.make`, which parses and checks the values.
    """

    op: Op
    kernel: Pair
    stride: Pair
    padding: Padding
    dilation: Pair
    ceil_mode: bool
    count_include_pad: bool
    divisor: int | None

    @classmethod
    def make(
        cls,
        op: str,
        kernel: PairLike = 2,
        stride: PairLike | None = None,
        padding: PairLike = 0,
        dilation: PairLike = 1,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor: int | None = None,
    ) -> PoolSpec:
        """Parse and validate; raises :class:`ParameterError` naming the knob."""
        if op not in OPS:
            raise ParameterError("op", op, f"must be one of {', '.join(OPS)}")
        k = parse_pair(kernel, "kernel")
        s = k if stride is None else parse_pair(stride, "stride")
        d = parse_pair(dilation, "dilation")
        p: Padding
        if isinstance(padding, str) and padding.strip().lower() == "same":
            p = "same"
        else:
            p = parse_pair(padding, "padding")
        for name, pair in (("kernel", k), ("stride", s), ("dilation", d)):
            if min(pair) < 1:
                raise ParameterError(name, _fmt(pair), "must be at least 1")
        if p != "same":
            if min(p) < 0:
                raise ParameterError("padding", _fmt(p), "must not be negative")
            for axis in (0, 1):
                if p[axis] > k[axis] // 2:
                    raise ParameterError(
                        "padding",
                        _fmt(p),
                        f"at most half the kernel ({k[axis] // 2} for kernel {_fmt(k)}), as PyTorch "
                        "allows: a window must never lie wholly in the padding",
                    )
        elif ceil_mode:
            raise ParameterError("ceil_mode", True, "has no effect with padding 'same'; drop --ceil")
        if op == "avg" and d != (1, 1):
            raise ParameterError(
                "dilation", _fmt(d), "avg pooling has no dilation (PyTorch's avg_pool2d has none); use max or min"
            )
        if divisor is not None:
            if op != "avg":
                raise ParameterError("divisor", divisor, "only applies to avg pooling")
            if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
                raise ParameterError("divisor", divisor, "must be a positive integer")
        return cls(op, k, s, p, d, bool(ceil_mode), bool(count_include_pad), divisor)  # type: ignore[arg-type]

    def axis(self, length: int, axis: int) -> AxisPlan:
        """Plan pooling along ``axis`` (0 = rows, 1 = columns) of ``length`` cells.

        Raises
        ------
        ParameterError
            When the padded axis is shorter than the effective kernel.
        """
        k, s, d = self.kernel[axis], self.stride[axis], self.dilation[axis]
        eff = d * (k - 1) + 1
        if self.padding == "same":
            out = -(-length // s)
            total = max((out - 1) * s + eff - length, 0)
            before, after = total // 2, total - total // 2
        else:
            p = self.padding[axis]
            before = after = p
            out = axis_output_length(length, k, s, p, d, self.ceil_mode)
        return AxisPlan(length, k, s, d, before, after, out)

    def plan(self, height: int, width: int) -> tuple[AxisPlan, AxisPlan]:
        """Plan both axes of a ``height x width`` image.

        Raises
        ------
        ImageShapeError
            When the (padded) image is smaller than the effective kernel.
        """
        try:
            return self.axis(height, 0), self.axis(width, 1)
        except ParameterError:
            eff = tuple(self.dilation[a] * (self.kernel[a] - 1) + 1 for a in (0, 1))
            raise ImageShapeError(
                f"image {height}x{width} is smaller than the kernel {eff[0]}x{eff[1]}"
                + ("" if self.dilation == (1, 1) else " (dilated)")
                + " (use --padding or --ceil)"
            ) from None

    def output_size(self, height: int, width: int) -> Pair:
        """The ``(rows, cols)`` this spec gives for a ``height x width`` image."""
        rows, cols = self.plan(height, width)
        return (rows.out, cols.out)

    def tag(self) -> str:
        """A short file-name tag: ``max-k2-s2``, plus any knob not at its default."""
        parts = [self.op, f"k{_fmt(self.kernel)}", f"s{_fmt(self.stride)}"]
        if self.padding == "same":
            parts.append("psame")
        elif self.padding != (0, 0):
            parts.append(f"p{_fmt(self.padding)}")
        if self.dilation != (1, 1):
            parts.append(f"d{_fmt(self.dilation)}")
        if self.ceil_mode:
            parts.append("ceil")
        if self.op == "avg" and not self.count_include_pad:
            parts.append("nopad")
        if self.divisor is not None:
            parts.append(f"div{self.divisor}")
        return "-".join(parts)

    def describe(self) -> str:
        """Human-readable knobs, e.g. ``max k=2 s=2 p=1``."""
        text = f"{self.op} k={_fmt(self.kernel)} s={_fmt(self.stride)}"
        if self.padding == "same":
            text += " p=same"
        elif self.padding != (0, 0):
            text += f" p={_fmt(self.padding)}"
        if self.dilation != (1, 1):
            text += f" d={_fmt(self.dilation)}"
        if self.ceil_mode:
            text += " ceil"
        if self.op == "avg" and not self.count_include_pad:
            text += " no-count-pad"
        if self.divisor is not None:
            text += f" divisor={self.divisor}"
        return text


_PAIR_TAG = r"\d+(?:x\d+)?"
#: File names poolcli gives its outputs: ``<stem>.<tag>.<ext>`` for any tag that
#: :meth:`PoolSpec.tag` or an adaptive run makes, and ``.compare.png`` figures.
OUTPUT_NAME = re.compile(
    rf".+\.(?:(?:max|avg|min)-k{_PAIR_TAG}-s{_PAIR_TAG}(?:-(?:p{_PAIR_TAG}|psame|d{_PAIR_TAG}|ceil|nopad|div\d+))*"
    rf"|adaptive-(?:avg|max|min)-(?:\d+|H)x(?:\d+|W))(?:\.compare)?\.[A-Za-z0-9]+"
    rf"|.+\.compare\.png"
)


def is_output_name(name: str) -> bool:
    """Whether ``name`` looks like a file poolcli wrote (``photo.max-k2-s2.jpg``, ``photo.compare.png``).

    >>> is_output_name("photo.max-k2-s2.jpg"), is_output_name("photo.jpg")
    (True, False)
    """
    return OUTPUT_NAME.fullmatch(name) is not None


def axis_output_length(length: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's output length along one axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``; with ``ceil_mode`` the ceiling,
    less one when the last window would start past the input and the left
    padding (PyTorch's rule).

    Raises
    ------
    ParameterError
        When no window fits (``n + 2p`` shorter than the effective kernel
        ``d(k-1)+1``, beyond what ceil mode allows).
    """
    eff = dilation * (kernel - 1) + 1
    room = length + 2 * padding - eff
    if ceil_mode:
        out = -(-room // stride) + 1
        if (out - 1) * stride >= length + padding:
            out -= 1
    else:
        out = room // stride + 1
    if out < 1:
        raise ParameterError(
            "kernel", kernel, f"effective size {eff} does not fit the padded length {length + 2 * padding}"
        )
    return out


def output_size(
    height: int,
    width: int,
    kernel: PairLike,
    stride: PairLike | None = None,
    padding: PairLike = 0,
    dilation: PairLike = 1,
    ceil_mode: bool = False,
) -> Pair:
    """Output ``(rows, cols)`` of pooling a ``height x width`` image.

    Examples
    --------
    >>> output_size(32, 32, kernel=3, stride=2, padding=1)
    (16, 16)
    >>> output_size(5, 5, kernel=2, ceil_mode=True)
    (3, 3)
    """
    spec = PoolSpec.make("max", kernel, stride, padding, dilation, ceil_mode)
    return spec.output_size(height, width)


def _fmt(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


fmt_pair = _fmt

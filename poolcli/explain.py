"""How a window pooling works, step by step: the data behind ``poolcli explain``.

:func:`explain` takes a small grid of numbers (the built-in 8x8
:data:`PATTERN`, or a region of at most :data:`MAX_CELLS` x :data:`MAX_CELLS`
cells of an image) and a :class:`~poolcli.spec.PoolSpec`, and returns an
:class:`Explanation`: the grid with its padding, one :class:`Step` per output
cell (the window's taps, the winning cell, the reduction written out with
the real numbers) and the output-size formula with the numbers plugged in.
:mod:`poolcli.explain_html` draws it as a page, :mod:`poolcli.explain_gif`
as an animation.

Where the numbers come from: the window geometry is the spec's own
:class:`~poolcli.spec.AxisPlan` (window ``i`` starts at ``i * stride -
before``, taps every ``dilation`` cells); every output value is poolcli's
pooling of the region (:func:`poolcli.pooling.pool`), checked against the
NumPy reference (:func:`poolcli.reference.apply`). An average's divisor and
exact mean are read from poolcli's pooling too (of the region in float64,
and of ones), not recomputed here.

How each op's reduction is written is one entry in :data:`REDUCTIONS`
(keyed by op name): how its padding is drawn and a function that writes a
window's reduction. max, avg and min are there; an op without an entry
cannot be explained yet (:func:`explainable_ops`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import ops
from .errors import ParameterError, WindowTooLargeError
from .spec import AxisPlan, PoolSpec

if TYPE_CHECKING:
    import numpy as np

#: The largest region explained, in cells per side: beyond it the numbers would be unreadable.
MAX_CELLS = 16

#: The built-in grid: varied two-digit values, the same as ``sample_images/pattern8x8.png``.
PATTERN: tuple[tuple[int, ...], ...] = (
    (12, 45, 7, 80, 33, 61, 2, 90),
    (67, 23, 54, 19, 98, 14, 76, 41),
    (5, 88, 36, 62, 27, 50, 93, 18),
    (71, 30, 84, 9, 58, 39, 11, 64),
    (47, 95, 16, 73, 3, 86, 52, 25),
    (20, 56, 68, 42, 77, 31, 8, 99),
    (83, 1, 34, 91, 15, 60, 44, 70),
    (38, 74, 22, 57, 89, 26, 81, 13),
)
PATTERN_NAME = "built-in 8x8 pattern"

CellKind = Literal["image", "pad", "beyond"]
Number = int | float


# --- what a page or an animation draws ------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One window as a reduction sees it, for one channel.

    Attributes
    ----------
    values : list of number or None
        Each tap in row-major order: the image value, or None for a tap in
        the padding or beyond it.
    kinds : list of {"image", "pad", "beyond"}
        Where each tap lies: in the image, in the padding (it takes part,
        with the op's neutral value), or past the padded input (ceil mode;
        PyTorch ignores it).
    result : number
        poolcli's pooled value of this window.
    exact : float
        The same window pooled in float64 (an average before rounding).
    divisor : int or None
        For ops that divide a sum (avg): what the sum is divided by.
    dtype : numpy dtype
        The image's (integer averages are rounded half to even).
    spec : PoolSpec
    """

    values: list[Number | None]
    kinds: list[CellKind]
    result: Number
    exact: float
    divisor: int | None
    dtype: np.dtype
    spec: PoolSpec


@dataclass(frozen=True)
class Reduction:
    """How ``explain`` writes one op.

    Attributes
    ----------
    pad : str
        How a padding cell is drawn: the op's neutral value (``−∞`` for max).
    text : callable
        ``Window -> str``, the reduction with the real numbers:
        ``max(12, 45, 67, 23) = 67``.
    winner : bool
        Whether one cell of the window wins (max, min): it is marked.
    pad_note : str
        Said of a window that starts in the padding.
    """

    pad: str
    text: Callable[[Window], str]
    winner: bool = False
    pad_note: str = ""


@dataclass(frozen=True)
class Step:
    """One output cell: its window and how its value is made.

    Coordinates are image rows and columns of the region (0 is its first
    row; padding rows are negative or past the end).

    Attributes
    ----------
    out : (row, col)
        The output cell.
    taps : list of (row, col)
        The window's cells, row-major (dilated windows are spaced).
    winners : list of (row, col) or None
        Per channel, the cell whose value won (max, min), None when none did.
    text : list of str
        The reduction written out, one line per channel shown.
    value : list of number
        The output value per channel.
    notes : list of str
        What is special about this window (starts in the padding, reaches
        past it in ceil mode).
    """

    out: tuple[int, int]
    taps: list[tuple[int, int]]
    winners: list[tuple[int, int] | None]
    text: list[str]
    value: list[Number]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Explanation:
    """Everything ``explain`` shows, as plain data (see :meth:`to_dict`).

    Attributes
    ----------
    source : str
        The input's name, or :data:`PATTERN_NAME`.
    region : (row, col, height, width) or None
        Where the grid lies in the input image (None for the pattern).
    image_shape : tuple of int
        The whole input's shape.
    dtype : str
    channels : list of str
        The channels shown: ``["Y"]``, ``["R"]``, or ``["R", "G", "B"]``.
    spec : PoolSpec
    grid : ndarray of shape (h, w, len(channels))
        The region's values.
    rows, cols : AxisPlan
        The spec's plan of each axis of the region.
    first, last : (row, col)
        The drawn area: from the first padding cell to the last cell any
        window reaches (past the padding in ceil mode).
    output : ndarray of shape (out_rows, out_cols, len(channels))
        poolcli's pooling of the region (equal to the NumPy reference).
    steps : list of Step
        One per output cell, row-major.
    formula : list of str
        The output size per axis, with the numbers plugged in.
    notes : list of str
        What applies to the whole explanation (dropped windows, dropped alpha).
    overview : bytes or None
        A small JPEG of the whole input with the region outlined.
    """

    source: str
    region: tuple[int, int, int, int] | None
    image_shape: tuple[int, ...]
    dtype: str
    channels: list[str]
    spec: PoolSpec
    grid: np.ndarray
    rows: AxisPlan
    cols: AxisPlan
    first: tuple[int, int]
    last: tuple[int, int]
    output: np.ndarray
    steps: list[Step]
    formula: list[str]
    notes: list[str]
    overview: bytes | None = None

    @property
    def reduction(self) -> Reduction:
        return REDUCTIONS[self.spec.op]

    def kind(self, row: int, col: int) -> CellKind:
        """Whether the cell at (row, col) is in the image, the padding, or past the padded input."""
        return _kind(row, col, self.grid.shape[0], self.grid.shape[1], self.rows, self.cols)

    @property
    def title(self) -> str:
        where = self.source if self.region is None else f"{self.source}, region {_region_text(self.region)}"
        return f"{self.spec.describe()} on {where}"

    def to_dict(self) -> dict[str, Any]:
        """The explanation as JSON-ready data (what the page's script reads)."""
        (r0, c0), (r1, c1) = self.first, self.last
        cells = [
            [
                {"kind": (kind := self.kind(r, c)), "v": _cell_values(self, r, c, kind)}
                for c in range(c0, c1 + 1)
            ]
            for r in range(r0, r1 + 1)
        ]  # fmt: skip
        return {
            "title": self.title,
            "source": self.source,
            "region": None if self.region is None else list(self.region),
            "op": self.spec.op,
            "knobs": self.spec.describe(),
            "dtype": self.dtype,
            "channels": self.channels,
            "first": list(self.first),
            "last": list(self.last),
            "size": [int(self.grid.shape[0]), int(self.grid.shape[1])],
            "out": [int(self.output.shape[0]), int(self.output.shape[1])],
            "cells": cells,
            "output": [[[_plain(v) for v in cell] for cell in row] for row in self.output.tolist()],
            "steps": [
                {
                    "out": list(s.out),
                    "taps": [list(t) for t in s.taps],
                    "winners": [None if w is None else list(w) for w in s.winners],
                    "text": s.text,
                    "value": [_plain(v) for v in s.value],
                    "notes": s.notes,
                }
                for s in self.steps
            ],
            "formula": self.formula,
            "notes": self.notes,
            "winner": self.reduction.winner,
        }


# --- the per-op writing -------------------------------------------------------------------------------


def number(value: Number | None) -> str:
    """A cell value as written: integers whole, floats to 4 significant digits, ±∞ as symbols."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isinf(value):
            return "−∞" if value < 0 else "+∞"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def _listed(window: Window, pad: str) -> list[str]:
    """The taps as written in a reduction: values, the neutral value for padding; taps past it left out."""
    return [number(v) if k == "image" else pad for v, k in zip(window.values, window.kinds) if k != "beyond"]


def _extreme_text(name: str, pad: str) -> Callable[[Window], str]:
    def text(window: Window) -> str:
        listed = _listed(window, pad)
        return f"{name}({', '.join(listed)}) = {number(window.result)}"

    return text


def _avg_text(window: Window) -> str:
    """``avg = (12+45+67+23)/4 = 36.75 → 37 (half to even)``, padding as 0 where it counts."""
    from fractions import Fraction  # exact means (imported here: it pulls in decimal)

    assert window.divisor is not None
    spec = window.spec
    counts_pad = spec.divisor is None and spec.count_include_pad
    terms = [number(v) if k == "image" else "0" for v, k in zip(window.values, window.kinds)
             if k == "image" or (k == "pad" and counts_pad)]  # fmt: skip
    text = f"avg = ({'+'.join(terms) or '0'})/{window.divisor} = "
    if window.dtype.kind not in "iu":
        shown = number(window.exact)
        text += shown
        if number(window.result) != shown:
            text += f" → {number(window.result)} (in {window.dtype.name})"
        return text
    total = sum(int(v) for v, k in zip(window.values, window.kinds) if k == "image" and v is not None)
    mean = Fraction(total, window.divisor)
    # the written mean is poolcli's own float64 pooling of this window, to its precision
    assert abs(float(mean) - window.exact) <= 1e-9 * max(1.0, abs(window.exact)), (mean, window.exact)
    shown = f"{float(mean):.4f}".rstrip("0").rstrip(".")
    text += shown if Fraction(shown) == mean else shown + "…"
    if mean != window.result:
        why = "half to even" if abs(mean - window.result) <= Fraction(1, 2) else f"clipped to {window.dtype.name}"
        text += f" → {number(window.result)} ({why})"
    return text


#: How ``explain`` writes each op, keyed by op name. Adding an op here (with
#: a text function over :class:`Window`) makes it explainable.
REDUCTIONS: dict[str, Reduction] = {
    "max": Reduction(
        "−∞", _extreme_text("max", "−∞"), winner=True,
        pad_note="padding holds −∞ for max, so it never wins",
    ),
    "avg": Reduction(
        "0", _avg_text,
        pad_note="padding cells hold 0",
    ),
    "min": Reduction(
        "+∞", _extreme_text("min", "+∞"), winner=True,
        pad_note="padding holds +∞ for min, so it never wins",
    ),
}  # fmt: skip


def explainable_ops() -> tuple[str, ...]:
    """The registry's window ops that :data:`REDUCTIONS` knows how to write."""
    return tuple(name for name in ops.window_ops() if name in REDUCTIONS)


# --- building an explanation ---------------------------------------------------------------------------


def parse_region(text: str) -> tuple[int, int, int, int]:
    """``"row,col,height,width"`` as four integers (rows first, as everywhere in poolcli).

    >>> parse_region("120,200,12,12")
    (120, 200, 12, 12)
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ParameterError("region", text, "expected ROW,COL,HEIGHT,WIDTH, four whole numbers")
    row, col, height, width = (int(p) for p in parts)
    if height < 1 or width < 1:
        raise ParameterError("region", text, "height and width must be at least 1")
    return row, col, height, width


def pattern() -> np.ndarray:
    """The built-in 8x8 grid as a uint8 array."""
    import numpy as np

    return np.array(PATTERN, dtype=np.uint8)


def explain(
    image: np.ndarray | None,
    spec: PoolSpec,
    *,
    region: tuple[int, int, int, int] | None = None,
    channel: str | None = None,
    source: str | None = None,
) -> Explanation:
    """Explain ``spec`` on ``image`` (or the built-in pattern), one step per output cell.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), or None
        RGB(A) order as :func:`poolcli.read_image` gives it; None: the
        built-in 8x8 :data:`PATTERN`. An alpha channel is not shown.
    spec : PoolSpec
        A window op with an entry in :data:`REDUCTIONS`.
    region : (row, col, height, width), optional
        The cells to explain, at most :data:`MAX_CELLS` per side; default:
        the whole image, when it is that small.
    channel : {"R", "G", "B"}, optional
        Show one channel of a colour image; default: all three per cell.
    source : str, optional
        The input's name, for titles.

    Returns
    -------
    Explanation
        ``len(steps) == output rows * output cols``, the output size being
        ``floor((in + 2p - d(k-1) - 1) / s) + 1`` per axis (ceil with ``ceil_mode``).

    Raises
    ------
    ParameterError
        An op that cannot be explained, a region outside the image or larger
        than :data:`MAX_CELLS`, a channel the image lacks, or a kernel larger
        than the padded region.

    Examples
    --------
    >>> e = explain(None, PoolSpec.make("max", kernel=2))
    >>> len(e.steps), e.steps[0].text
    (16, ['max(12, 45, 67, 23) = 67'])
    """
    import numpy as np

    from .pooling import pool
    from .reference import apply

    if spec.op not in REDUCTIONS:
        raise ParameterError("op", spec.op, f"explain shows {', '.join(explainable_ops())} (no text for it yet)")
    notes: list[str] = []
    if image is None:
        full = pattern()
        source = PATTERN_NAME
        if region is not None:
            _check_region(region, full.shape)
    else:
        full = image
        source = source or "image"
    grid_image, names = _channels(full, channel, notes)
    if region is None and image is not None:
        h, w = full.shape[:2]
        if max(h, w) > MAX_CELLS:
            side_r, side_c = min(h, 8), min(w, 8)
            raise ParameterError(
                "region", None, f"{source} is {h}x{w}; explain shows at most {MAX_CELLS}x{MAX_CELLS} cells: pick "
                f"them with --region ROW,COL,HEIGHT,WIDTH, e.g. --region {(h - side_r) // 2},{(w - side_c) // 2},"
                f"{side_r},{side_c}",
            )  # fmt: skip
    if region is not None:
        _check_region(region, full.shape)
        r, c, h, w = region
        grid = grid_image[r : r + h, c : c + w]
    else:
        grid = grid_image
    grid = np.ascontiguousarray(grid)
    height, width = grid.shape[:2]
    rows, cols = _plan(spec, height, width)

    output = pool(grid, spec)
    reference = apply(grid, spec)
    if not np.array_equal(output, reference, equal_nan=True):  # pragma: no cover - a bug in a kernel
        raise AssertionError(f"poolcli's pooling and the NumPy reference disagree on {spec.describe()}")
    exact = pool(grid.astype(np.float64), spec)
    counted = pool(np.ones((height, width), np.float64), spec) if spec.info.separable == "sum" else None

    grid3 = grid[:, :, None] if grid.ndim == 2 else grid
    out3 = output[:, :, None] if output.ndim == 2 else output
    exact3 = exact[:, :, None] if exact.ndim == 2 else exact
    reduction = REDUCTIONS[spec.op]
    steps: list[Step] = []
    for i in range(rows.out):
        row_taps = _taps(rows, i)
        for j in range(cols.out):
            col_taps = _taps(cols, j)
            taps = [(r, c) for r in row_taps for c in col_taps]
            kinds: list[CellKind] = [_kind(r, c, height, width, rows, cols) for r, c in taps]
            real = sum(k == "image" for k in kinds)
            divisor = None
            if counted is not None:
                share = float(counted[i, j])
                divisor = spec.divisor if spec.divisor is not None else (round(real / share) if share else 0)
            texts, winners, values = [], [], []
            for ch in range(grid3.shape[2]):
                cell_values = [grid3[r, c, ch].item() if k == "image" else None for (r, c), k in zip(taps, kinds)]
                result = out3[i, j, ch].item()
                window = Window(cell_values, kinds, result, float(exact3[i, j, ch]), divisor, grid.dtype, spec)
                line = reduction.text(window)
                texts.append(f"{names[ch]}: {line}" if len(names) > 1 else line)
                winners.append(_winner(window, taps) if reduction.winner else None)
                values.append(result)
            steps.append(Step((i, j), taps, winners, texts, values, _step_notes(spec, taps, kinds, rows, cols)))

    notes += _dropped_notes(spec, rows, "row", height) + _dropped_notes(spec, cols, "column", width)
    first = (-rows.before, -cols.before)
    last = (
        max(height + rows.after, _taps(rows, rows.out - 1)[-1] + 1) - 1,
        max(width + cols.after, _taps(cols, cols.out - 1)[-1] + 1) - 1,
    )
    overview = _overview(full, region) if image is not None and region is not None else None
    return Explanation(
        source, region, tuple(full.shape), str(grid.dtype), names, spec, grid3, rows, cols, first, last, out3,
        steps, formula(spec, rows, cols), notes, overview,
    )  # fmt: skip


def _channels(image: np.ndarray, channel: str | None, notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The channels shown, and their names."""
    if image.ndim == 2:
        if channel not in (None, "Y"):
            raise ParameterError("channel", channel, "the image is gray: it has one channel")
        return image, ["Y"]
    count = image.shape[2]
    if count == 4:
        notes.append("the alpha channel is not shown (pooling treats it as a fourth channel)")
    if count not in (3, 4):
        raise ParameterError("channel", channel, f"explain shows gray and RGB images, not {count} channels")
    if channel is None:
        return image[:, :, :3], ["R", "G", "B"]
    name = channel.upper()
    if name not in ("R", "G", "B"):
        raise ParameterError("channel", channel, "use R, G or B")
    return image[:, :, "RGB".index(name)], [name]


def _check_region(region: tuple[int, int, int, int], shape: tuple[int, ...]) -> None:
    row, col, height, width = region
    if height > MAX_CELLS or width > MAX_CELLS:
        raise ParameterError(
            "region", _region_text(region), f"is larger than {MAX_CELLS}x{MAX_CELLS} cells (the numbers would be "
            "unreadable); pick a smaller one",
        )  # fmt: skip
    if row + height > shape[0] or col + width > shape[1]:
        raise ParameterError(
            "region", _region_text(region), f"does not fit in the image ({shape[0]}x{shape[1]}, rows x cols)"
        )


def _region_text(region: Sequence[int]) -> str:
    row, col, height, width = region
    return f"{height}x{width} at row {row}, col {col}"


def _plan(spec: PoolSpec, height: int, width: int) -> tuple[AxisPlan, AxisPlan]:
    try:
        return spec.plan(height, width)
    except WindowTooLargeError:
        pad = spec.padding if spec.padding != "same" else (0, 0)
        eff = tuple(spec.dilation[a] * (spec.kernel[a] - 1) + 1 for a in (0, 1))
        shown = f"{spec.kernel[0]}x{spec.kernel[1]}" + (
            f" ({eff[0]}x{eff[1]} dilated)" if spec.dilation != (1, 1) else ""
        )
        raise ParameterError(
            "kernel", shown, f"larger than the padded region {height + 2 * pad[0]}x{width + 2 * pad[1]} (region "
            f"{height}x{width}, padding {pad[0]}x{pad[1]} on each side)",
        ) from None  # fmt: skip


def _taps(plan: AxisPlan, index: int) -> list[int]:
    """The cells window ``index`` covers along one axis (the spec's geometry)."""
    start = index * plan.stride - plan.before
    return [start + t * plan.dilation for t in range(plan.kernel)]


def _kind(row: int, col: int, height: int, width: int, rows: AxisPlan, cols: AxisPlan) -> CellKind:
    if 0 <= row < height and 0 <= col < width:
        return "image"
    if -rows.before <= row < height + rows.after and -cols.before <= col < width + cols.after:
        return "pad"
    return "beyond"


def _winner(window: Window, taps: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first cell (row-major) holding the pooled value; None when only padding was there."""
    for (r, c), v, k in zip(taps, window.values, window.kinds):
        if k == "image" and v == window.result:
            return (r, c)
    return None


def _step_notes(
    spec: PoolSpec, taps: list[tuple[int, int]], kinds: list[CellKind], rows: AxisPlan, cols: AxisPlan
) -> list[str]:
    notes = []
    reduction = REDUCTIONS[spec.op]
    about_pad = reduction.pad_note
    if spec.op == "avg":
        counted = spec.divisor is None and spec.count_include_pad
        about_pad += f", {'counted' if counted else 'not counted'} in the divisor"
    first_r, first_c = taps[0]
    if kinds[0] != "image" and (first_r < 0 or first_c < 0):
        where = " and ".join(f"{name} {value}" for name, value in (("row", first_r), ("column", first_c)) if value < 0)
        notes.append(f"this window starts in the padding ({where}); {about_pad}")
    elif "pad" in kinds:
        notes.append(f"this window reaches into the padding; {about_pad}")
    if "beyond" in kinds:
        outside = kinds.count("beyond")
        notes.append(
            f"ceil mode: this window reaches past the padded input; its {outside} cell(s) there do not exist and "
            "are left out" + (" (also of the divisor)" if spec.op == "avg" else "")
        )
    if "image" not in kinds:
        notes.append("no cell of this window is in the image")
    return notes


def _dropped_notes(spec: PoolSpec, plan: AxisPlan, name: str, length: int) -> list[str]:
    """Ceil mode: the window PyTorch drops because it would start past the input and the left padding."""
    if not spec.ceil_mode:
        return []
    room = length + plan.before + plan.after - plan.effective
    if -(-room // plan.stride) + 1 == plan.out:
        return []
    start = plan.out * plan.stride - plan.before
    return [
        f"ceil mode: a window {plan.out + 1} along the {name}s would start at {name} {start}, past the input "
        f"(it must start before {name} {length}), so PyTorch drops it"
    ]


def formula(spec: PoolSpec, rows: AxisPlan, cols: AxisPlan) -> list[str]:
    """The output size per axis with the numbers plugged in; the results are the spec's own.

    >>> spec = PoolSpec.make("max", kernel=3, stride=2, padding=1)
    >>> formula(spec, *spec.plan(8, 8))[0]
    'rows: floor((in + 2p − d(k−1) − 1) / s) + 1 = floor((8 + 2·1 − 1·(3−1) − 1) / 2) + 1 = floor(7/2) + 1 = 4'
    """
    return [_axis_formula(spec, plan, name) for plan, name in ((rows, "rows"), (cols, "columns"))]


def _axis_formula(spec: PoolSpec, plan: AxisPlan, name: str) -> str:
    n, k, s, d = plan.length, plan.kernel, plan.stride, plan.dilation
    if spec.padding == "same":
        total = plan.before + plan.after
        return (
            f"{name}: padding 'same': ceil(in / s) = ceil({n}/{s}) = {plan.out}; padding "
            f"max((out−1)·s + d(k−1) + 1 − in, 0) = {total}: {plan.before} before, {plan.after} after"
        )
    p = plan.before
    room = n + 2 * p - d * (k - 1) - 1
    plugged = f"({n} + 2·{p} − {d}·({k}−1) − 1) / {s}"
    if not spec.ceil_mode:
        return (
            f"{name}: floor((in + 2p − d(k−1) − 1) / s) + 1 = floor({plugged}) + 1 = floor({room}/{s}) + 1 = {plan.out}"
        )
    ceiled = -(-room // s) + 1
    text = f"{name}: ceil((in + 2p − d(k−1) − 1) / s) + 1 = ceil({plugged}) + 1 = ceil({room}/{s}) + 1 = {ceiled}"
    if ceiled != plan.out:
        text += f", less the last window (it would start past the input): {plan.out}"
    return text


def _cell_values(e: Explanation, row: int, col: int, kind: CellKind) -> list[Any]:
    if kind == "image":
        return [_plain(v) for v in e.grid[row, col].tolist()]
    return []


def _plain(value: Any) -> Any:
    """A value JSON can hold: ±∞ and NaN as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return number(value) if not math.isnan(value) else "NaN"
    return value


def _overview(image: np.ndarray, region: tuple[int, int, int, int], side: int = 240) -> bytes:
    """A small JPEG of the whole image with the region outlined in orange."""
    import numpy as np

    from .image_io import encode_image
    from .thumbs import displayable, shrink

    rgb = displayable(image)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    small, scale = shrink(rgb, side)
    r, c, h, w = region
    top, left = int(r * scale[0]), int(c * scale[1])
    bottom = min(small.shape[0] - 1, max(top + 1, math.ceil((r + h) * scale[0]) - 1))
    right = min(small.shape[1] - 1, max(left + 1, math.ceil((c + w) * scale[1]) - 1))
    small = small.copy()
    orange = np.array([255, 127, 14], np.uint8)
    for t in range(2):
        small[max(top - t, 0), left : right + 1] = orange
        small[min(bottom + t, small.shape[0] - 1), left : right + 1] = orange
        small[top : bottom + 1, max(left - t, 0)] = orange
        small[top : bottom + 1, min(right + t, small.shape[1] - 1)] = orange
    grow = max(1, side // max(small.shape[:2]))  # a small image is shown enlarged, pixels kept sharp
    if grow > 1:
        small = np.repeat(np.repeat(small, grow, axis=0), grow, axis=1)
    return encode_image("overview.jpg", small, quality=85)


# --- the files ``poolcli explain`` writes ----------------------------------------------------------------

#: The page's name when no output is named: beside the input, or in the current folder for the pattern.
DEFAULT_PAGE = "explain.html"


def targets(image: str | None, page: str | None, gif: str | None) -> list[tuple[str, str]]:
    """What ``explain`` writes, as ``(kind, path)`` with kind ``"page"`` or ``"gif"``, checked before any work.

    With neither named, the page goes to ``explain.html`` beside ``image``
    (in the current folder for the built-in pattern).

    Raises
    ------
    OutputPathError
        A page not named ``.html``/``.htm``, an animation not named ``.gif``,
        or an output that is the input.
    """
    from pathlib import Path

    from .errors import OutputPathError
    from .paths import check_folder_usable, check_not_input, is_folder

    if page is None and gif is None:
        page = str(Path(image).parent / DEFAULT_PAGE) if image is not None else DEFAULT_PAGE
    chosen = [(kind, path) for kind, path in (("page", page), ("gif", gif)) if path is not None]
    for kind, path in chosen:
        suffixes = (".html", ".htm") if kind == "page" else (".gif",)
        if is_folder(path):
            raise OutputPathError("is a directory; name a file", path=path)
        if Path(path).suffix.lower() not in suffixes:
            what = (
                "the page is HTML: give a name ending in .html"
                if kind == "page"
                else "--gif needs a name ending in .gif"
            )
            raise OutputPathError(what, path=path)
        if image is not None:
            check_not_input(Path(image), Path(path))
        check_folder_usable(Path(path))
    return chosen


def write_outputs(e: Explanation, chosen: list[tuple[str, str]], *, overwrite: bool = False) -> list[str]:
    """Write the page and/or the animation of ``e`` (atomically); returns the paths written.

    Every target is checked for an existing file before any is written, so
    a refused run writes nothing.

    Raises
    ------
    OutputExistsError
        A target exists and ``overwrite`` is false.
    """
    import os

    from .errors import OutputExistsError

    if not overwrite:
        for _, path in chosen:
            if os.path.lexists(path):
                raise OutputExistsError(path)
    written = []
    for kind, path in chosen:
        if kind == "page":
            from .explain_html import write_page

            write_page(path, e, overwrite=overwrite)
        else:
            from .explain_gif import write_gif

            write_gif(path, e, overwrite=overwrite)
        written.append(path)
    return written

"""One file through the pipeline: load -> tensor -> pool -> image -> write (or -> figure)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np

from . import image_io
from .errors import OutputExistsError, ParameterError, PoolcliError
from .figures import FigureStyle, Panel, difference_panel, original_panel, result_panel, write_figure
from .params import COMPARE_OPS, DEFAULT_COMPARE_OPS, PairLike, PoolSpec
from .paths import Job
from .pooling import adaptive_pool, pool
from .sniff import DEFAULT_MAX_PIXELS

Status = Literal["written", "skipped", "failed", "planned"]


@dataclass(frozen=True)
class Operation:
    """An image-in, image-out step with the tag its output files carry."""

    tag: str
    label: str
    apply: Callable[[np.ndarray], np.ndarray]
    output_shape: Callable[[tuple[int, int]], tuple[int, int]]


def pooling_operation(spec: PoolSpec, device: str) -> Operation:
    """Max/avg/min pooling with ``spec`` on ``device``."""
    return Operation(
        tag=spec.tag(),
        label=spec.describe(),
        apply=lambda img: pool(
            img,
            spec.op,
            spec.kernel,
            spec.stride,
            spec.padding,
            spec.dilation,
            spec.ceil_mode,
            spec.count_include_pad,
            spec.divisor,
            device=device,
        ),
        output_shape=lambda hw: spec.output_size(*hw),
    )


def adaptive_operation(size: tuple[int | None, int | None], reduce: str, device: str) -> Operation:
    """Adaptive pooling to ``size`` (a None side keeps the input's)."""
    text = f"{size[0] or 'H'}x{size[1] or 'W'}"
    return Operation(
        tag=f"adaptive-{reduce}-{text}",
        label=f"adaptive {reduce} → {text}",
        apply=lambda img: adaptive_pool(img, size, reduce, device=device),
        output_shape=lambda hw: (size[0] or hw[0], size[1] or hw[1]),
    )


@dataclass
class FileOptions:
    """How inputs are read and outputs written.

    The read fields (``max_pixels``, ``strict``, ``allow_truncated``) go to
    :func:`poolcli.image_io.load_image`; the write fields (``depth``,
    ``flatten``, ``background``) to :func:`poolcli.image_io.write_image`.
    """

    color: image_io.ColorMode = "auto"
    ignore_orientation: bool = False
    overwrite: bool = False
    dry_run: bool = False
    #: ``--compare``: draw ``job.figure`` (original | result) as asked here.
    figure: FigureRequest | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    strict: bool = False
    allow_truncated: bool = False
    depth: int | None = None
    flatten: bool = False
    background: tuple[int, int, int] | None = None

    def write_options(self) -> dict:
        """The keyword arguments :func:`poolcli.image_io.write_image` takes (a background implies flattening)."""
        flatten = self.flatten or self.background is not None
        return {"depth": self.depth, "flatten": flatten, "background": self.background or image_io.WHITE}


@dataclass(frozen=True)
class FigureRequest:
    """``--compare`` on a pooling command.

    ``where`` is ``""`` (beside the output), a ``.png`` file or a folder;
    ``write_output`` is false for ``--no-output`` (only the figure is written).
    """

    where: str = ""
    style: FigureStyle = field(default_factory=FigureStyle)
    write_output: bool = True


@dataclass
class Result:
    """What happened to one input."""

    source: Path
    target: Path | None
    status: Status
    error: str | None = None
    exists: bool = False
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    dtype: str | None = None
    ms: float = 0.0
    extra: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def process(job: Job, op: Operation, opts: FileOptions) -> Result:
    """Run one job; never raises a :class:`PoolcliError`, it is recorded in the result."""
    result = Result(job.source, job.target, "failed")
    with _recorded(result):
        image = _load(job.source, opts, result)
        # pooling keeps dtype and channels: a format that cannot hold them is refused before the work
        image_io.check_output(job.target, image, **opts.write_options())
        if opts.dry_run:
            result.out_shape = op.output_shape(image.shape[:2]) + image.shape[2:]
            result.status = "planned"
        else:
            request = opts.figure
            figure = job.figure if request is not None else None
            write_output = request is None or request.write_output
            for target in ([job.target] if write_output else []) + ([figure] if figure else []):
                if not opts.overwrite and target.exists():
                    raise OutputExistsError("exists (use --overwrite to replace it)", path=target)
            out = op.apply(image)
            result.out_shape = out.shape
            if write_output:
                image_io.write_image(job.target, out, overwrite=opts.overwrite, **opts.write_options())
            if figure is not None and request is not None:
                # an adaptive label ends in its size ("adaptive avg → 64x48"); the panel title says it already
                grid = [[original_panel(image), result_panel(out, op.label.partition(" → ")[0])]]
                write_figure(figure, grid, _titled(request.style, job.source), overwrite=opts.overwrite)
            result.status = "written"
        if opts.figure is not None and job.figure is not None:
            result.extra["figure"] = job.figure
    return result


def _load(source: Path, opts: FileOptions, result: Result) -> np.ndarray:
    """Read ``source`` as ``opts`` say, noting its warnings and shape in ``result``."""
    loaded = image_io.load_image(
        source,
        opts.color,
        ignore_orientation=opts.ignore_orientation,
        max_pixels=opts.max_pixels,
        strict=opts.strict,
        allow_truncated=opts.allow_truncated,
    )
    result.warnings = [f"{source}: {w}" for w in loaded.warnings]
    result.in_shape, result.dtype = loaded.image.shape, loaded.image.dtype.name
    return loaded.image


@contextmanager
def _recorded(result: Result) -> Iterator[None]:
    """Turn a :class:`PoolcliError` into the result's status, and time the work."""
    start = time.perf_counter()
    try:
        yield
    except OutputExistsError as exc:
        result.status, result.error, result.exists = "skipped", str(exc), True
    except PoolcliError as exc:
        if exc.path is None:
            exc.path = str(result.source)
        result.status, result.error = "failed", str(exc)
        result.extra["exception"] = exc
    finally:
        result.ms = (time.perf_counter() - start) * 1000


def shape_text(shape: tuple[int, ...] | None) -> str:
    """``480x640`` (rows x cols), with ``x3`` appended for three channels."""
    if shape is None:
        return "?"
    return "x".join(str(n) for n in shape)


# --- comparison figures ------------------------------------------------------------------


@dataclass(frozen=True)
class CompareColumn:
    """One kernel setting of a comparison: a spec per pooled op, and the size adaptive panels match."""

    specs: dict[str, PoolSpec]
    size: PoolSpec


@dataclass(frozen=True)
class Comparison:
    """What ``poolcli compare`` draws: every op in ``ops`` at every kernel setting in ``columns``."""

    ops: tuple[str, ...]
    columns: tuple[CompareColumn, ...]
    diff: bool = False
    device: str = "cpu"

    @property
    def panel_count(self) -> int:
        """Panels in the figure: the original, every op per column, and the differences."""
        per_column = len(self.ops) + (len(self.ops) - 1 if self.diff else 0)
        return 1 + per_column * len(self.columns)


def comparison(
    ops: tuple[str, ...] = DEFAULT_COMPARE_OPS,
    kernels: tuple[PairLike, ...] = (2,),
    stride: PairLike | None = None,
    padding: PairLike = 0,
    dilation: PairLike = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor: int | None = None,
    diff: bool = False,
    device: str = "cpu",
) -> Comparison:
    """Validate a comparison before any image is read.

    Each kernel is pooled with ``stride`` (default: that kernel) and the
    other knobs; ``count_include_pad`` and ``divisor`` apply to avg only.

    Raises
    ------
    ParameterError
        An unknown op, a repeated op, no ops, or knobs PyTorch would refuse.
    """
    if not ops:
        raise ParameterError("ops", None, f"name at least one of {', '.join(COMPARE_OPS)}")
    for op in ops:
        if op not in COMPARE_OPS:
            raise ParameterError("ops", op, f"unknown (use {', '.join(COMPARE_OPS)})")
    if len(set(ops)) != len(ops):
        raise ParameterError("ops", ",".join(ops), "lists an op twice")
    if not kernels:
        raise ParameterError("kernels", None, "name at least one kernel")
    columns = []
    for kernel in kernels:
        specs = {
            op: PoolSpec.make(op, kernel, stride, padding, dilation, ceil_mode,
                              count_include_pad if op == "avg" else True, divisor if op == "avg" else None)
            for op in ops if op in ("max", "avg", "min")
        }  # fmt: skip
        size = next(iter(specs.values()), None) or PoolSpec.make("max", kernel, stride, padding, dilation, ceil_mode)
        columns.append(CompareColumn(specs, size))
    return Comparison(tuple(ops), tuple(columns), diff, device)


def comparison_grid(image: np.ndarray, plan: Comparison) -> list[list[Panel | None]]:
    """The panels of a comparison figure, every one pooled by :mod:`poolcli.pooling`.

    One kernel setting: the original and one panel per op in a row, the
    difference panels (``|a - b|`` for neighbouring ops) in a row below.
    Several: one row per op (then per difference) and one column per kernel,
    after a first column holding the original.

    Raises
    ------
    ImageShapeError
        The image is smaller than a kernel.
    """
    results: list[list[tuple[str, np.ndarray]]] = []  # per column: (op, pooled image)
    for column in plan.columns:
        size = column.size.output_size(*image.shape[:2])
        pooled = []
        for op in plan.ops:
            if op in column.specs:
                spec = column.specs[op]
                out = pool(image, op, spec.kernel, spec.stride, spec.padding, spec.dilation, spec.ceil_mode,
                           spec.count_include_pad, spec.divisor, device=plan.device)  # fmt: skip
            else:
                out = adaptive_pool(image, size, op.partition("-")[2] or "avg", device=plan.device)
            pooled.append((op, out))
        results.append(pooled)
    panels = [[_compare_panel(op, out, column) for op, out in col] for col, column in zip(results, plan.columns)]
    diffs = [
        [difference_panel(a, b, _short(x), _short(y)) for (x, a), (y, b) in pairwise(col)]
        for col in results
    ] if plan.diff else [[] for _ in results]  # fmt: skip
    original = original_panel(image)
    if len(plan.columns) == 1:
        grid: list[list[Panel | None]] = [[original, *panels[0]]]
        if diffs[0]:
            grid.append([None, *diffs[0]])
        return grid
    rows: list[list[Panel | None]] = [
        [original if i == 0 else None, *(col[i] for col in panels)] for i in range(len(plan.ops))
    ]
    n_diffs = len(diffs[0])
    rows += [[None, *(col[i] for col in diffs)] for i in range(n_diffs)]
    return rows


def compare_file(job: Job, plan: Comparison, style: FigureStyle, opts: FileOptions) -> Result:
    """Read ``job.source`` and write its comparison figure to ``job.target``.

    Never raises a :class:`PoolcliError`; it is recorded in the result, as
    :func:`process` does. ``result.extra["panels"]`` is the panel count.
    """
    result = Result(job.source, job.target, "failed")
    with _recorded(result):
        image = _load(job.source, opts, result)
        if opts.dry_run:
            for column in plan.columns:
                column.size.output_size(*image.shape[:2])  # a kernel too large fails here, as it would for real
            result.status = "planned"
        else:
            if not opts.overwrite and job.target.exists():
                raise OutputExistsError("exists (use --overwrite to replace it)", path=job.target)
            grid = comparison_grid(image, plan)
            result.extra["panels"] = sum(p is not None for row in grid for p in row)
            write_figure(job.target, grid, _titled(style, job.source), overwrite=opts.overwrite)
            result.status = "written"
    return result


def _compare_panel(op: str, out: np.ndarray, column: CompareColumn) -> Panel:
    if op in column.specs:
        return result_panel(out, column.specs[op].describe())
    return result_panel(out, f"adaptive {op.partition('-')[2] or 'avg'}")


def _short(op: str) -> str:
    return "adaptive" if op == "adaptive" else op.replace("adaptive-", "adaptive ")


def _titled(style: FigureStyle, source: Path) -> FigureStyle:
    """The style with the input's file name as the heading unless ``--title`` gave one."""
    return style if style.title is not None else replace(style, title=source.name)

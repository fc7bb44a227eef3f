"""One file through the pipeline: load -> tensor -> pool -> image -> write (or -> figure)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np

from . import image_io
from .errors import ImageReadError, OutputExistsError, ParameterError, PoolcliError, WriteError
from .figures import FigureStyle, Panel, difference_panel, original_panel, result_panel, write_figure
from .params import COMPARE_OPS, DEFAULT_COMPARE_OPS, PairLike, PoolSpec
from .paths import STDIO, Job
from .pooling import adaptive_pool, pool
from .sniff import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    import torch

Status = Literal["written", "skipped", "failed", "planned"]


@dataclass(frozen=True)
class Operation:
    """An image-in, image-out step with the tag its output files carry.

    ``apply_tensor``, when given, does the same to an (N, C, H, W) tensor on
    ``device``, so images of one size can be pooled in one call
    (:func:`process_group`).
    """

    tag: str
    label: str
    apply: Callable[[np.ndarray], np.ndarray]
    output_shape: Callable[[tuple[int, int]], tuple[int, int]]
    device: str = "cpu"
    apply_tensor: Callable[[torch.Tensor], torch.Tensor] | None = None


def pooling_operation(spec: PoolSpec, device: str) -> Operation:
    """Max/avg/min pooling with ``spec`` on ``device``."""
    knobs = {
        "kernel": spec.kernel,
        "stride": spec.stride,
        "padding": spec.padding,
        "dilation": spec.dilation,
        "ceil_mode": spec.ceil_mode,
        "count_include_pad": spec.count_include_pad,
        "divisor": spec.divisor,
    }
    return Operation(
        tag=spec.tag(),
        label=spec.describe(),
        apply=lambda img: pool(img, spec.op, device=device, **knobs),
        output_shape=lambda hw: spec.output_size(*hw),
        device=device,
        apply_tensor=lambda t: pool(t, spec.op, **knobs),
    )


def adaptive_operation(size: tuple[int | None, int | None], reduce: str, device: str) -> Operation:
    """Adaptive pooling to ``size`` (a None side keeps the input's)."""
    text = f"{size[0] or 'H'}x{size[1] or 'W'}"
    return Operation(
        tag=f"adaptive-{reduce}-{text}",
        label=f"adaptive {reduce} → {text}",
        apply=lambda img: adaptive_pool(img, size, reduce, device=device),
        output_shape=lambda hw: (size[0] or hw[0], size[1] or hw[1]),
        device=device,
        apply_tensor=lambda t: adaptive_pool(t, size, reduce),
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
    #: Where a job whose source or target is ``paths.STDIO`` reads or writes.
    stdin: BinaryIO | None = None
    stdout: BinaryIO | None = None
    #: The encoding for a target of ``paths.STDIO`` (an extension with the dot).
    stdout_format: str = ".png"

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
        image = _load(job, opts, result)
        _check_output(job, image, opts)
        if opts.dry_run:
            result.out_shape = op.output_shape(image.shape[:2]) + image.shape[2:]
            if opts.figure is not None and job.figure is not None:
                result.extra["figure"] = job.figure
        else:
            _save(job, image, op.apply(image), op, opts, result)
    return result


def process_group(jobs: Sequence[Job], op: Operation, opts: FileOptions) -> list[Result]:
    """Run several jobs, pooling images of one shape and dtype in one (N, C, H, W) call.

    The results, pixels included, are those of :func:`process` on each job;
    this only spares a GPU from being fed one image at a time. Without
    ``op.apply_tensor`` (or in a dry run) it is :func:`process` per job.
    Each result's ``ms`` is its own reading and writing plus its share of
    the group's pooling.
    """
    if op.apply_tensor is None or opts.dry_run:
        return [process(job, op, opts) for job in jobs]
    from .tensor import stack_images, unstack_images

    results = [Result(job.source, job.target, "failed") for job in jobs]
    groups: dict[tuple, list[tuple[int, np.ndarray]]] = {}
    for i, job in enumerate(jobs):
        with _recorded(results[i]):
            image = _load(job, opts, results[i])
            _check_output(job, image, opts)
            groups.setdefault((image.shape, image.dtype.str), []).append((i, image))
    for members in groups.values():
        start = time.perf_counter()
        try:
            stacked = stack_images([image for _, image in members], op.device)
            outs = unstack_images(op.apply_tensor(stacked), members[0][1].ndim)
        except PoolcliError as exc:
            for i, _ in members:
                _note_error(exc, results[i])
            continue
        share = (time.perf_counter() - start) * 1000 / len(members)
        for (i, image), out in zip(members, outs):
            with _recorded(results[i]):
                _save(jobs[i], image, out, op, opts, results[i])
            results[i].ms += share
    return results


def _targets(job: Job, opts: FileOptions) -> list[Path]:
    """The files this job writes: the output (unless ``--no-output``) and any figure."""
    request = opts.figure
    targets = [] if request is not None and not request.write_output else [job.target]
    if request is not None and job.figure is not None:
        targets.append(job.figure)
    return [t for t in targets if t != STDIO]


def _load(job: Job, opts: FileOptions, result: Result, targets: Sequence[Path] | None = None) -> np.ndarray:
    """Read the job's image as ``opts`` say, noting warnings and shape in ``result``.

    Existing targets are checked first, so re-running a batch skips what is
    done without decoding it; a dry run marks the result planned.
    """
    if not opts.dry_run and not opts.overwrite:
        for target in _targets(job, opts) if targets is None else targets:
            if os.path.exists(target):  # not Path.exists: a name too long to exist is the write's to report
                raise OutputExistsError("exists (use --overwrite to replace it)", path=target)
    read = {
        "ignore_orientation": opts.ignore_orientation,
        "max_pixels": opts.max_pixels,
        "strict": opts.strict,
        "allow_truncated": opts.allow_truncated,
    }
    if job.source == STDIO:
        if opts.stdin is None:
            raise ImageReadError("no standard input to read from", path="-")
        loaded = image_io.load_image_bytes(opts.stdin.read(), opts.color, name="-", **read)
    else:
        loaded = image_io.load_image(job.source, opts.color, **read)
    image = loaded.image
    result.warnings = [f"{job.source}: {w}" for w in loaded.warnings]
    result.in_shape, result.dtype = image.shape, image.dtype.name
    if opts.dry_run:
        result.status = "planned"
    return image


def _check_output(job: Job, image: np.ndarray, opts: FileOptions) -> None:
    """Refuse, before the work, an output format that cannot hold the pooled image.

    Pooling keeps dtype and channels, so the input decides.
    """
    if job.target != STDIO and (opts.figure is None or opts.figure.write_output):
        image_io.check_output(job.target, image, **opts.write_options())


def _save(job: Job, image: np.ndarray, out: np.ndarray, op: Operation, opts: FileOptions, result: Result) -> None:
    """Write the pooled image (atomically, or to stdout) and any comparison figure."""
    result.out_shape = out.shape
    request = opts.figure
    if job.target == STDIO:
        data = image_io.encode_image("-" + opts.stdout_format, image_io.prepare_output(out, **opts.write_options()))
        if opts.stdout is None:
            raise WriteError("no standard output to write to", path="-")
        try:
            opts.stdout.write(data)
            opts.stdout.flush()
        except OSError as exc:
            raise WriteError(f"write failed: {exc.strerror or exc}", path="-") from None
    elif request is None or request.write_output:
        image_io.write_image(job.target, out, overwrite=opts.overwrite, **opts.write_options())
    if request is not None and job.figure is not None:
        # an adaptive label ends in its size ("adaptive avg → 64x48"); the panel title says it already
        grid = [[original_panel(image), result_panel(out, op.label.partition(" → ")[0])]]
        write_figure(job.figure, grid, _titled(request.style, job.source), overwrite=opts.overwrite)
        result.extra["figure"] = job.figure
    result.status = "written"


def _note_error(exc: PoolcliError, result: Result) -> None:
    if isinstance(exc, OutputExistsError):
        result.status, result.error, result.exists = "skipped", str(exc), True
        return
    if exc.path is None:
        exc.path = str(result.source)
    result.status, result.error = "failed", str(exc)
    result.extra["exception"] = exc


@contextmanager
def _recorded(result: Result) -> Iterator[None]:
    """Turn an error into the result's status, and add the time spent.

    Anything but an interrupt fails this one file only: a batch never stops
    for one image, even on a bug (kept in ``result.extra["exception"]``).
    """
    start = time.perf_counter()
    try:
        yield
    except PoolcliError as exc:
        _note_error(exc, result)
    except MemoryError:
        _note_error(PoolcliError("out of memory"), result)
    except Exception as exc:
        _note_error(PoolcliError(f"internal error: {type(exc).__name__}: {exc}"), result)
        result.extra["exception"] = exc
    finally:
        result.ms += (time.perf_counter() - start) * 1000


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
    difference panels in a row below. Several: one row per op (then per
    difference) and one column per kernel, after a first column holding the
    original.

    With ``plan.diff``, every other op is compared with the first op of
    ``plan.ops``: ``|max − avg|``, ``|max − min|``, ``|max − adaptive|`` for
    the default ops, so each difference panel answers "how far is this op
    from that one" against one fixed reference. The difference panels share
    one colour scale (see :func:`poolcli.figures.make_figure`).

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
        [difference_panel(col[0][1], b, _short(col[0][0]), _short(y)) for y, b in col[1:]]
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
        image = _load(job, opts, result, targets=[job.target])
        if opts.dry_run:
            for column in plan.columns:
                column.size.output_size(*image.shape[:2])  # a kernel too large fails here, as it would for real
        else:
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

"""One file through the pipeline: load -> tensor -> pool -> image -> write."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np

from . import image_io
from .errors import ImageReadError, OutputExistsError, PoolcliError, WriteError
from .params import PoolSpec
from .paths import STDIO, Job
from .pooling import adaptive_pool, pool

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
        device=device,
        apply_tensor=lambda t: pool(
            t,
            spec.op,
            spec.kernel,
            spec.stride,
            spec.padding,
            spec.dilation,
            spec.ceil_mode,
            spec.count_include_pad,
            spec.divisor,
        ),
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
    """How inputs are read and outputs written."""

    color: image_io.ColorMode = "auto"
    ignore_orientation: bool = False
    overwrite: bool = False
    dry_run: bool = False
    #: Where a job whose source or target is ``paths.STDIO`` reads or writes.
    stdin: BinaryIO | None = None
    stdout: BinaryIO | None = None
    #: The encoding for a target of ``paths.STDIO`` (an extension with the dot).
    stdout_format: str = ".png"


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


def process(job: Job, op: Operation, opts: FileOptions) -> Result:
    """Run one job; never raises a :class:`PoolcliError`, it is recorded in the result."""
    start = time.perf_counter()
    result = Result(job.source, job.target, "failed")
    try:
        image = _load(job, opts, result)
        if opts.dry_run:
            result.out_shape = op.output_shape(image.shape[:2]) + image.shape[2:]
        else:
            _save(job, op.apply(image), opts, result)
    except PoolcliError as exc:
        _record(exc, job, result)
    result.ms = (time.perf_counter() - start) * 1000
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
        start = time.perf_counter()
        try:
            image = _load(job, opts, results[i])
            groups.setdefault((image.shape, image.dtype.str), []).append((i, image))
        except PoolcliError as exc:
            _record(exc, job, results[i])
        results[i].ms += (time.perf_counter() - start) * 1000
    for members in groups.values():
        start = time.perf_counter()
        try:
            stacked = stack_images([image for _, image in members], op.device)
            outs = unstack_images(op.apply_tensor(stacked), members[0][1].ndim)
        except PoolcliError as exc:
            for i, _ in members:
                _record(exc, jobs[i], results[i])
            continue
        share = (time.perf_counter() - start) * 1000 / len(members)
        for (i, _), out in zip(members, outs):
            start = time.perf_counter()
            try:
                _save(jobs[i], out, opts, results[i])
            except PoolcliError as exc:
                _record(exc, jobs[i], results[i])
            results[i].ms += share + (time.perf_counter() - start) * 1000
    return results


def _load(job: Job, opts: FileOptions, result: Result) -> np.ndarray:
    """Read the job's image and note its shape (and, in a dry run, mark it planned).

    An existing target is checked first, so re-running a batch skips what is
    done without decoding it.
    """
    if not opts.dry_run and not opts.overwrite and job.target != STDIO and job.target.exists():
        raise OutputExistsError("exists (use --overwrite to replace it)", path=job.target)
    if job.source == STDIO:
        if opts.stdin is None:
            raise ImageReadError("no standard input to read from", path="-")
        image = image_io.decode_image(
            opts.stdin.read(), opts.color, name="-", ignore_orientation=opts.ignore_orientation
        )
    else:
        image = image_io.read_image(job.source, opts.color, ignore_orientation=opts.ignore_orientation)
    result.in_shape, result.dtype = image.shape, image.dtype.name
    if opts.dry_run:
        result.status = "planned"
    return image


def _save(job: Job, out: np.ndarray, opts: FileOptions, result: Result) -> None:
    """Encode and write the pooled image (atomically, never over an existing file without overwrite)."""
    result.out_shape = out.shape
    if job.target == STDIO:
        data = image_io.encode_image("-" + opts.stdout_format, out)
        if opts.stdout is None:
            raise WriteError("no standard output to write to", path="-")
        try:
            opts.stdout.write(data)
            opts.stdout.flush()
        except OSError as exc:
            raise WriteError(f"write failed: {exc.strerror or exc}", path="-") from None
    else:
        image_io.write_image(job.target, out, overwrite=opts.overwrite)
    result.status = "written"


def _record(exc: PoolcliError, job: Job, result: Result) -> None:
    if isinstance(exc, OutputExistsError):
        result.status, result.error, result.exists = "skipped", str(exc), True
        return
    if exc.path is None:
        exc.path = str(job.source)
    result.status, result.error = "failed", str(exc)
    result.extra["exception"] = exc


def shape_text(shape: tuple[int, ...] | None) -> str:
    """``480x640`` (rows x cols), with ``x3`` appended for three channels."""
    if shape is None:
        return "?"
    return "x".join(str(n) for n in shape)

"""One file through the pipeline: load -> tensor -> pool -> image -> write."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from . import image_io
from .errors import OutputExistsError, PoolcliError
from .params import PoolSpec
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
    start = time.perf_counter()
    result = Result(job.source, job.target, "failed")
    try:
        loaded = image_io.load_image(
            job.source,
            opts.color,
            ignore_orientation=opts.ignore_orientation,
            max_pixels=opts.max_pixels,
            strict=opts.strict,
            allow_truncated=opts.allow_truncated,
        )
        image = loaded.image
        result.warnings = [f"{job.source}: {w}" for w in loaded.warnings]
        result.in_shape, result.dtype = image.shape, image.dtype.name
        # pooling keeps dtype and channels: a format that cannot hold them is refused before the work
        image_io.check_output(job.target, image, **opts.write_options())
        if opts.dry_run:
            result.out_shape = op.output_shape(image.shape[:2]) + image.shape[2:]
            result.status = "planned"
        else:
            if not opts.overwrite and job.target.exists():
                raise OutputExistsError("exists (use --overwrite to replace it)", path=job.target)
            out = op.apply(image)
            result.out_shape = out.shape
            image_io.write_image(job.target, out, overwrite=opts.overwrite, **opts.write_options())
            result.status = "written"
    except OutputExistsError as exc:
        result.status, result.error, result.exists = "skipped", str(exc), True
    except PoolcliError as exc:
        if exc.path is None:
            exc.path = str(job.source)
        result.error = str(exc)
        result.extra["exception"] = exc
    result.ms = (time.perf_counter() - start) * 1000
    return result


def shape_text(shape: tuple[int, ...] | None) -> str:
    """``480x640`` (rows x cols), with ``x3`` appended for three channels."""
    if shape is None:
        return "?"
    return "x".join(str(n) for n in shape)

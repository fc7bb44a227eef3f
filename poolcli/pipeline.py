"""One file through the pipeline: load -> tensor -> pool -> image -> write (or -> figure, or -> values).

Batch work is plain data. A :class:`Job` names one input and its outputs; a
:class:`Work` says what to do to every job (an operation, how to read, how
to write, where to pool); :func:`process` turns a job into a :class:`Result`.
All three pickle, and :func:`process` is a top-level function, so any engine
(threads, processes, a cluster) can run it. Standard input and output,
progress and reports stay with the caller: a job carries standard input's
bytes, and a result carries the bytes for standard output.

Operations (what a job does to its image):

* :class:`Pooling` writes the pooled image, and with ``--compare`` a figure;
* :class:`Comparing` writes a comparison figure (``poolcli compare``);
* :class:`GlobalValues` and :class:`Describing` write nothing; they return
  values (``poolcli global``, ``poolcli info``).
"""

from __future__ import annotations

import errno
import os
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .errors import ImageTooLargeError, OutputExistsError, PoolcliError, WriteError
from .sniff import DEFAULT_MAX_PIXELS
from .spec import PoolSpec
from .storage import is_url

if TYPE_CHECKING:
    import numpy as np

    from .compare import Comparison
    from .figures import FigureStyle
    from .image_io import ColorMode

Status = Literal["written", "skipped", "failed", "planned", "read"]

#: ``-``: standard input as a source, standard output as a target.
STDIO = "-"


# --- what travels --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are read (:func:`poolcli.image_io.load_image`'s keywords)."""

    color: ColorMode = "auto"
    ignore_orientation: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    strict: bool = False
    allow_truncated: bool = False

    def keywords(self) -> dict[str, Any]:
        return {
            "ignore_orientation": self.ignore_orientation,
            "max_pixels": self.max_pixels,
            "strict": self.strict,
            "allow_truncated": self.allow_truncated,
        }


@dataclass(frozen=True)
class WriteOptions:
    """How outputs are written (:func:`poolcli.image_io.write_image`'s keywords).

    ``background`` implies ``flatten``. ``stdout_format`` is the encoding of
    a target that is standard output (an extension with its dot).
    """

    overwrite: bool = False
    depth: int | None = None
    flatten: bool = False
    background: tuple[int, int, int] | None = None
    quality: int | None = None
    stdout_format: str = ".png"

    def keywords(self) -> dict[str, Any]:
        from .image_io import WHITE

        return {
            "depth": self.depth,
            "flatten": self.flatten or self.background is not None,
            "background": self.background or WHITE,
        }


@dataclass(frozen=True)
class Job:
    """One input and the files it becomes; plain data.

    Paths are strings as the user gave them (messages and reports show
    these); ``base`` is the client's working folder, against which relative
    paths are resolved, so a worker started elsewhere finds the same files.

    Attributes
    ----------
    source : str
        The input, or ``"-"`` for standard input (then ``data`` holds its bytes).
    target : str or None
        The image written, ``"-"`` for standard output, None for an
        operation that writes no image.
    figure : str or None
        A figure written too (``--compare``), or the figure a
        :class:`Comparing` job writes.
    """

    source: str
    target: str | None = None
    figure: str | None = None
    base: str = ""
    data: bytes | None = field(default=None, repr=False)

    def at(self, path: str) -> str:
        """``path`` resolved against the client's working folder (a URL is left as it is)."""
        return os.path.join(self.base, path) if self.base and path != STDIO and not is_url(path) else path

    def outputs(self) -> list[str]:
        """The files this job writes, as shown (standard output left out)."""
        return [p for p in (self.target, self.figure) if p is not None and p != STDIO]


@dataclass
class Result:
    """What happened to one input; plain data.

    ``error`` is one line with the path as the user gave it; ``error_kind``
    names its :class:`~poolcli.errors.PoolcliError` class (the CLI adds the
    flag that helps). ``values`` is what a reading operation found, ``data``
    the encoded image for standard output, ``trace`` a bug's traceback.
    ``details`` is what an operation tells about how it got its result beyond
    its knobs (the random draws of fractional and stochastic pooling); the
    report writes it. ``thumbs`` holds small JPEGs for a run's page
    (``original``, ``result``, ``figure``), made in the worker when
    :attr:`Work.thumbs` asks.
    ``passing`` marks a failure whose cause may go away (see :func:`passing`):
    a run tries that file again (``--retries``).
    """

    source: str
    target: str | None
    status: Status
    figure: str | None = None
    error: str | None = None
    error_kind: str | None = None
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    dtype: str | None = None
    ms: float = 0.0
    warnings: tuple[str, ...] = ()
    values: dict[str, Any] | None = None
    data: bytes | None = field(default=None, repr=False)
    trace: str | None = None
    details: dict[str, Any] | None = None
    thumbs: dict[str, bytes] | None = field(default=None, repr=False)
    passing: bool = False


class Operation(Protocol):
    """What a job does to its image. Implementations are frozen dataclasses (they pickle)."""

    #: What each job writes: an image (and maybe a figure), a figure, or nothing.
    writes: Literal["image", "figure"] | None
    #: How its files are named (``<stem>.<tag>.<ext>``); None when it writes nothing.
    tag: str | None
    #: What the run's lines call it (``max k=2 s=2``).
    label: str

    def check(self, image: np.ndarray, job: Job, work: Work) -> None:
        """Refuse, before the work, what would fail after it (formats, sizes)."""

    def planned_shape(self, image: np.ndarray) -> tuple[int, ...] | None:
        """The output's shape, for a dry run."""

    def run(self, image: np.ndarray, job: Job, work: Work, result: Result) -> None:
        """Do the work and record it in ``result``."""


@dataclass(frozen=True)
class Work:
    """What every job of a run gets done to it: plain data, the same for all."""

    operation: Any  # an Operation
    read: ReadOptions = ReadOptions()
    write: WriteOptions = WriteOptions()
    device: str = "cpu"
    dry_run: bool = False
    thumbs: bool = False  # make Result.thumbs (a run's page)


@dataclass(frozen=True)
class FigureRequest:
    """``--compare`` on a pooling command: draw original | result.

    ``write_output`` is false for ``--no-output`` (only the figure is written).
    ``winners`` (``--winners``, max and min): the figure also shows the
    original with each window's winning pixel marked.
    """

    style: FigureStyle
    write_output: bool = True
    winners: bool = False


# --- the operations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pooling:
    """Pool with ``spec`` and write the image (and, with ``figure``, original | result)."""

    spec: PoolSpec
    figure: FigureRequest | None = None

    writes = "image"

    @property
    def tag(self) -> str:
        return self.spec.tag()

    @property
    def label(self) -> str:
        return self.spec.describe()

    def check(self, image: np.ndarray, job: Job, work: Work) -> None:
        from . import image_io

        rows, cols = self.spec.output_size(*image.shape[:2])
        _check_output_pixels(rows, cols, work.read.max_pixels)
        if job.target is not None and job.target != STDIO and (self.figure is None or self.figure.write_output):
            image_io.check_output(job.at(job.target), image, **work.write.keywords())

    def planned_shape(self, image: np.ndarray) -> tuple[int, ...]:
        return self.spec.output_size(*image.shape[:2]) + image.shape[2:]

    @property
    def needs_indices(self) -> bool:
        """Whether each image's pooling must also say where its values came from (``--winners``)."""
        return self.figure is not None and self.figure.winners

    def run(self, image: np.ndarray, job: Job, work: Work, result: Result) -> None:
        from .pooling import pool

        if self.needs_indices:
            out, where = pool(image, self.spec, device=work.device, return_indices=True)
            self.save(image, out, job, work, result, where)
        else:
            self.save(image, pool(image, self.spec, device=work.device), job, work, result)

    def save(self, image: np.ndarray, out: np.ndarray, job: Job, work: Work, result: Result,
             where: np.ndarray | None = None) -> None:  # fmt: skip
        """Write the pooled image (atomically, or as bytes for standard output) and any figure.

        ``where``: the pooling's indices, for a ``--winners`` figure.
        """
        from . import image_io
        from .pooling import op_details

        result.details = op_details(self.spec, image.shape)
        written = image_io.prepare_output(out, **work.write.keywords())
        result.out_shape = written.shape
        if job.target == STDIO:
            result.data = image_io.encode_image("-" + work.write.stdout_format, written, quality=work.write.quality)
        elif job.target is not None and (self.figure is None or self.figure.write_output):
            image_io.write_bytes(
                job.at(job.target),
                image_io.encode_image(job.target, written, quality=work.write.quality),
                overwrite=work.write.overwrite,
            )
        drawn = None
        if self.figure is not None and job.figure is not None:
            from .figures import original_panel, result_panel, winners_panel

            pooled = result_panel(out, self.spec.describe().partition(" → ")[0])
            if where is not None:
                grid = [[original_panel(image), winners_panel(image, where, self.spec.op), pooled]]
            else:
                grid = [[original_panel(image), pooled]]
            drawn = write_job_figure(job, grid, self.figure.style, work, result)
        if work.thumbs:
            result.thumbs = _thumbnails(original=image, result=out, figure=drawn)
        result.status = "written"


@dataclass(frozen=True)
class Comparing:
    """Draw ``comparison`` (the original beside each pooling) into the job's figure."""

    comparison: Comparison
    style: FigureStyle

    writes = "figure"

    @property
    def tag(self) -> str:
        return self.comparison.tag

    @property
    def label(self) -> str:
        return self.comparison.label

    def check(self, image: np.ndarray, job: Job, work: Work) -> None:
        for spec in self.comparison.sized_specs(image.shape[:2]):
            rows, cols = spec.output_size(*image.shape[:2])  # a kernel too large fails here, before drawing
            _check_output_pixels(rows, cols, work.read.max_pixels)

    def planned_shape(self, image: np.ndarray) -> None:
        return None

    def run(self, image: np.ndarray, job: Job, work: Work, result: Result) -> None:
        from .compare import comparison_grid

        grid = comparison_grid(image, self.comparison, work.device)
        drawn = write_job_figure(job, grid, self.style, work, result)
        if work.thumbs:
            result.thumbs = _thumbnails(original=image, figure=drawn)
        result.status = "written"


@dataclass(frozen=True)
class GlobalValues:
    """One value per channel (global pooling), told rather than written."""

    spec: PoolSpec
    as_json: bool = False

    writes = None
    tag = None

    @property
    def label(self) -> str:
        return self.spec.describe()

    def check(self, image: np.ndarray, job: Job, work: Work) -> None:
        pass

    def planned_shape(self, image: np.ndarray) -> tuple[int, ...]:
        return (1 if image.ndim == 2 else image.shape[2],)

    def run(self, image: np.ndarray, job: Job, work: Work, result: Result) -> None:
        from .pooling import global_pool

        reduce = self.spec.param("reduce")
        values = global_pool(image, reduce, device=work.device)
        numbers = [float(v) if reduce == "avg" or image.dtype.kind == "f" else int(v) for v in values]
        result.values = {
            "reduce": reduce,
            "dtype": image.dtype.name,
            "channels": channel_names(image),
            "values": numbers,
        }
        result.out_shape = values.shape
        result.status = "read"

    def render(self, result: Result) -> list[str]:
        """The lines ``poolcli global`` prints for a result."""
        import json

        assert result.values is not None
        if self.as_json:
            return [json.dumps({"input": result.source, **result.values})]
        shown = "  ".join(
            f"{n}={v:.4f}" if isinstance(v, float) else f"{n}={v}"
            for n, v in zip(result.values["channels"], result.values["values"])
        )
        return [f"{result.source}: global {result.values['reduce']}: {shown}"]


@dataclass(frozen=True)
class Describing:
    """What ``poolcli info`` tells: the image, and each window op's output size under ``specs``.

    ``specs`` holds, per op, a spec or the reason the knobs do not apply to it.
    """

    specs: tuple[tuple[str, PoolSpec | str], ...]
    as_json: bool = False

    writes = None
    tag = None
    label = "info"
    pools = False  # nothing is pooled: torch is not needed

    def check(self, image: np.ndarray, job: Job, work: Work) -> None:
        pass

    def planned_shape(self, image: np.ndarray) -> None:
        return None

    def run(self, image: np.ndarray, job: Job, work: Work, result: Result) -> None:
        from .errors import ImageShapeError

        h, w = image.shape[:2]
        sizes: dict[str, Any] = {}
        for op, spec in self.specs:
            if isinstance(spec, str):
                sizes[op] = {"error": spec}
                continue
            try:
                sizes[op] = {"knobs": spec.describe(), "size": list(spec.output_size(h, w))}
            except ImageShapeError as exc:
                sizes[op] = {"knobs": spec.describe(), "error": exc.message}
        lo, hi = image.min().item(), image.max().item()
        result.values = {
            "height": h, "width": w, "channels": 1 if image.ndim == 2 else image.shape[2],
            "channel_names": channel_names(image), "dtype": image.dtype.name, "range": [lo, hi], "ops": sizes,
        }  # fmt: skip
        result.status = "read"

    def render(self, result: Result) -> list[str]:
        """The lines ``poolcli info`` prints for a result."""
        import json

        v = result.values
        assert v is not None
        if self.as_json:
            return [json.dumps({"input": result.source, **v})]
        lines = [
            result.source,
            f"  size      {v['height']}x{v['width']} (rows x cols), {v['channels']} channel(s) {''.join(v['channel_names'])}",
            f"  dtype     {v['dtype']}, values {_number(v['range'][0])}..{_number(v['range'][1])}",
        ]
        width = max([10, *(len(op) + 1 for op in v["ops"])])  # the op names line up, however long
        for op, entry in v["ops"].items():
            knobs = entry.get("knobs", op)
            if "size" in entry:
                lines.append(f"  {op:<{width}}{knobs:<28} -> {entry['size'][0]}x{entry['size'][1]}")
            else:
                lines.append(f"  {op:<{width}}{knobs:<28} -> n/a: {entry['error']}")
        return lines


# --- the per-file functions --------------------------------------------------------------------


def process(job: Job, work: Work) -> Result:
    """Run one job; never raises for a bad input: every failure is recorded in the result.

    Existing outputs are looked for first (a re-run skips what is done
    without decoding it), then the image is read, checked against what the
    operation will need, and the operation run (or, in a dry run, planned).
    """
    result = Result(job.source, job.target, "failed", figure=job.figure)
    with _recorded(result, job):
        image = _load(job, work, result)
        work.operation.check(image, job, work)
        if work.dry_run:
            result.status = "planned"
            result.out_shape = work.operation.planned_shape(image)
        else:
            work.operation.run(image, job, work, result)
    return result


def process_chunk(jobs: Sequence[Job], work: Work) -> list[Result]:
    """Run several jobs, pooling images of one shape and dtype as one (N, C, H, W) call.

    The results, pixels included, are those of :func:`process` on each job;
    this only spares a GPU from being fed one image at a time. Each result's
    ``ms`` is its own reading and writing plus its share of the group's pooling.
    """
    operation = work.operation
    if len(jobs) == 1 or not isinstance(operation, Pooling) or work.dry_run or operation.needs_indices:
        return [process(job, work) for job in jobs]
    from .pooling import pool
    from .tensor import stack_images, unstack_images

    results = [Result(job.source, job.target, "failed", figure=job.figure) for job in jobs]
    groups: dict[tuple[Any, ...], list[tuple[int, np.ndarray]]] = {}
    for i, job in enumerate(jobs):
        with _recorded(results[i], job):
            image = _load(job, work, results[i])
            operation.check(image, job, work)
            groups.setdefault((image.shape, image.dtype.str), []).append((i, image))
    for members in groups.values():
        start = time.perf_counter()
        try:
            stacked = stack_images([image for _, image in members], work.device)
            outs = unstack_images(pool(stacked, operation.spec), members[0][1].ndim)
        except PoolcliError as exc:
            for i, _ in members:
                _note_error(exc, results[i], jobs[i])
            continue
        share = (time.perf_counter() - start) * 1000 / len(members)
        for (i, image), out in zip(members, outs):
            with _recorded(results[i], jobs[i]):
                operation.save(image, out, jobs[i], work, results[i])
            results[i].ms += share
    return results


def _load(job: Job, work: Work, result: Result) -> np.ndarray:
    """Read the job's image, after refusing outputs that exist (they are skipped, not redone)."""
    from . import image_io

    if not work.write.overwrite:
        for output in job.outputs():
            if _lexists(job.at(output)):
                raise OutputExistsError(output)
    if job.source == STDIO:
        if job.data is None:
            raise PoolcliError("no standard input to read from", path=STDIO)
        loaded = image_io.load_image_bytes(job.data, work.read.color, name=STDIO, **work.read.keywords())
    else:
        loaded = image_io.load_image(job.at(job.source), work.read.color, **work.read.keywords())
    image = loaded.image
    result.warnings = tuple(f"{job.source}: {w}" for w in loaded.warnings)
    result.in_shape, result.dtype = image.shape, image.dtype.name
    return image


def _check_output_pixels(rows: int, cols: int, max_pixels: int) -> None:
    """Hold outputs to the same pixel limit as inputs (an adaptive size can ask for any)."""
    if max_pixels and rows * cols > max_pixels:
        raise ImageTooLargeError(
            cols, rows, max_pixels, what=f"the output would be {rows}x{cols} = {rows * cols:,} pixels"
        )


def _lexists(path: str) -> bool:
    if is_url(path):
        from .storage import exists

        return exists(path)
    return os.path.lexists(path)


def _note_error(exc: PoolcliError, result: Result, job: Job, cause: BaseException | None = None) -> None:
    if exc.path is not None:
        exc.path = _as_shown(exc.path, job)
    elif job.source is not None:
        exc.path = job.source
    result.error, result.error_kind = str(exc), type(exc).__name__
    result.status = "skipped" if isinstance(exc, OutputExistsError) else "failed"
    result.passing = result.status == "failed" and passing(cause or exc)


#: OS errors that say something lasting about the file or its place: trying again cannot help.
_LASTING = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)
_LASTING_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ELOOP", "ENAMETOOLONG", "EFBIG", "ENOSPC", "EDQUOT", "EROFS", "EINVAL", "EACCES", "EPERM")
    if hasattr(errno, name)
)


def passing(error: BaseException) -> bool:
    """Whether a file's failure may go away if it is tried again.

    It is when an :class:`OSError` is behind it (the error itself, or what
    a poolcli error was raised from) that is not about the file or its
    place: an I/O error, a dropped connection, a storage service's refusal
    to answer now. A missing file, a refusal of permission, a full disk,
    a name too long, and every poolcli error of its own (a corrupt image,
    one too large) are lasting.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            return not isinstance(current, _LASTING) and current.errno not in _LASTING_ERRNOS
        current = current.__cause__ or current.__context__
    return False


def _as_shown(path: str, job: Job) -> str:
    """A path a worker used, as the user named it."""
    for shown in (job.source, job.target, job.figure):
        if shown is not None and path in (shown, job.at(shown)):
            return shown
    return path


@contextmanager
def _recorded(result: Result, job: Job) -> Iterator[None]:
    """Turn an error into the result's status, and add the time spent.

    Anything but an interrupt fails this one file only: a batch never stops
    for one image, even on a bug (its traceback kept for ``--debug``).
    """
    start = time.perf_counter()
    try:
        yield
    except PoolcliError as exc:
        _note_error(exc, result, job)
    except MemoryError:
        _note_error(PoolcliError("out of memory"), result, job)
    except OSError as exc:  # beyond what the library turns into its own errors: still this file only
        _note_error(WriteError(f"{exc.strerror or exc}"), result, job, cause=exc)
        result.trace = traceback.format_exc()
    except Exception as exc:
        _note_error(PoolcliError(f"internal error: {type(exc).__name__}: {exc}"), result, job)
        result.trace = traceback.format_exc()
    finally:
        result.ms += (time.perf_counter() - start) * 1000


def channel_names(image: np.ndarray) -> list[str]:
    """``["R", "G", "B"]`` for an RGB image, ``["Y"]`` for gray, ``c0, c1, ...`` otherwise."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    return {1: ["Y"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}.get(channels, [f"c{i}" for i in range(channels)])


def shape_text(shape: tuple[int, ...] | None) -> str:
    """``480x640`` (rows x cols), with ``x3`` appended for three channels."""
    if shape is None:
        return "?"
    return "x".join(str(n) for n in shape)


def _number(value: float | int) -> str:
    """A value for people: integers whole, floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _thumbnails(**images: np.ndarray | None) -> dict[str, bytes]:
    """Small JPEGs of the images given (``original``, ``result``, ``figure``) for a run's page."""
    from .thumbs import FIGURE_QUALITY, FIGURE_SIDE, thumbnail

    return {
        name: thumbnail(image, FIGURE_SIDE, FIGURE_QUALITY) if name == "figure" else thumbnail(image)
        for name, image in images.items()
        if image is not None
    }


def write_job_figure(job: Job, grid: Any, style: FigureStyle, work: Work, result: Result) -> np.ndarray:
    """Draw ``grid`` into the job's figure (atomically; the overwrite rules of every output).

    Panels left without numbers under ``--annotate`` are told, as the
    result's warnings. Returns the figure's pixels (for a run page's thumbnail).
    """
    from .figures import annotation_notes, save_figure

    assert job.figure is not None
    titled = _titled(style, job.source)
    drawn = save_figure(job.at(job.figure), grid, titled, overwrite=work.write.overwrite)
    result.warnings += tuple(f"{job.source}: {note}" for note in annotation_notes(grid, titled))
    return drawn


def _titled(style: FigureStyle, source: str) -> FigureStyle:
    """The style with the input's file name as the heading unless ``--title`` gave one."""
    return style if style.title is not None else replace(style, title=Path(source).name)

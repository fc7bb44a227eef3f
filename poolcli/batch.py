"""Many images at once: plan every output, then run the jobs on an engine and tell a listener.

The stages follow the data: :func:`poolcli.discover.discover` turns the
command line into image files; :func:`plan` gives each one its outputs and
settles collisions, clashes with inputs and the report's path before
anything is read (usage problems stop the run here, with nothing done);
:func:`execute` pushes the jobs through :func:`poolcli.pipeline.process_chunk`
on an engine (:mod:`poolcli.engines`) and hands every result to a
:class:`Listener` (the CLI's :class:`poolcli.report.Reporter`).

Only paths are held for the whole run; the engine keeps a bounded number of
jobs in flight, so memory does not grow with the number of images.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from .discover import Source, discover, is_pattern
from .engines import chunked, default_workers, make_engine
from .errors import CollisionError, NotAReportError, OutputPathError, PoolcliError, WorkerLostError
from .paths import (
    IMAGE_EXTENSIONS,
    STDIO,
    check_figure_path,
    check_folder_usable,
    default_extension,
    figure_path,
    identity,
    is_folder,
    name_too_long,
    output_name,
    remove_stale_temporaries,
)
from .pipeline import Job, Pooling, ReadOptions, Result, Work, WriteOptions, process_chunk
from .storage import RemotePath, as_path, is_url

Collision = Literal["rename", "refuse"]

#: ``--jobs`` above this many per CPU core are lowered to it: more workers
#: add memory (a decoded image each) but no speed.
JOBS_PER_CORE = 4


class Listener(Protocol):
    """What :func:`execute` tells as it goes (the CLI's :class:`poolcli.report.Reporter`)."""

    def start(self, total: int) -> None: ...

    def note(self, text: str) -> None: ...

    def add(self, result: Result) -> None: ...

    def finish(self, summary: Summary) -> None: ...


@dataclass(frozen=True)
class Outputs:
    """Where a run's results go.

    ``output``: None (beside each input), a file (one input), a folder
    (it mirrors input folders' trees; any ``-o`` with several inputs, a
    folder or a pattern is one), or ``-`` (standard output). ``fmt``: the
    output format's extension. ``figure``: where ``--compare`` figures go
    (None: beside each output).
    """

    output: str | None = None
    fmt: str | None = None
    figure: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """How a run goes: finding inputs, the engine, collisions, the report.

    ``scheduler`` is the dask engine's cluster (None: ``DASK_SCHEDULER_ADDRESS``
    or a local one). ``retries``: how many more times a file whose failure
    may pass (:func:`poolcli.pipeline.passing`) is tried, after the others.
    """

    recursive: bool = False
    follow_links: bool = False
    jobs: int | None = None
    batch_size: int | None = None
    engine: str = "threads"
    on_collision: Collision = "rename"
    report: str | None = None
    html: str | None = None  # a page for the run (poolcli.runpage)
    scheduler: str | None = None
    retries: int = 2


@dataclass
class Plan:
    """Every job of a run, decided before any image is read.

    Attributes
    ----------
    jobs : list of Job
        Distinct sources, each with its own outputs.
    failed : list of Result
        Inputs that failed before reading (discovery, impossible names).
    single : bool
        One file named on its own: an existing output is an error, not a skip.
    stdout_format : str
        The encoding of a target that is standard output.
    notes : list of str
        Things the run did or changed that a user should hear about.
    """

    jobs: list[Job]
    failed: list[Result] = field(default_factory=list)
    single: bool = False
    stdout_format: str = ".png"
    notes: list[str] = field(default_factory=list)

    @property
    def to_stdout(self) -> bool:
        return any(job.target == STDIO for job in self.jobs)


@dataclass
class Summary:
    """Counts of a run."""

    written: int = 0
    planned: int = 0
    skipped: int = 0
    failed: int = 0
    read: int = 0
    interrupted: bool = False

    def add(self, result: Result) -> None:
        if result.status == "written":
            self.written += 1
        elif result.status == "planned":
            self.planned += 1
        elif result.status == "skipped":
            self.skipped += 1
        elif result.status == "read":
            self.read += 1
        else:
            self.failed += 1

    @property
    def done(self) -> int:
        return self.written + self.planned + self.skipped + self.failed + self.read


# --- planning --------------------------------------------------------------------------------------


def plan(
    inputs: Sequence[str],
    operation: Any,
    outputs: Outputs = Outputs(),
    options: RunOptions = RunOptions(),
    *,
    overwrite: bool = False,
    started: float | None = None,
) -> Plan:
    """Find the inputs and decide every output.

    Outputs are named ``<stem>.<tag>.<ext>`` (the operation's tag): beside
    each input, or in the ``outputs.output`` folder, mirroring the tree
    below each input folder. When several inputs would write one output
    (``a.jpg`` and ``a.png`` as PNG), ``on_collision="rename"`` keeps each
    source's extension in its name (``a.jpg.<tag>.png``); ``"refuse"``, or a
    clash that renaming does not settle, raises. Every output (images,
    figures, the report) is checked against every input by identity (the
    same file through any path or link). Temporary files that an earlier,
    interrupted run left in the output folders are removed (see
    :func:`remove_stale_temporaries`).

    Raises
    ------
    OutputPathError
        The outputs cannot be planned: several inputs for one output file,
        colliding outputs, an output that is an input, a folder that is a file.
    """
    inputs = list(inputs)
    output, writes = outputs.output, operation.writes is not None
    stdin = STDIO in inputs
    many = len(inputs) > 1 or any(_is_dir(i) or (is_pattern(i) and not os.path.lexists(i)) for i in inputs)
    if stdin and len(inputs) > 1:
        raise OutputPathError("'-' (standard input) must be the only input")
    if not writes and output is not None:
        raise OutputPathError("this command writes no file; it takes no output", path=output)
    if stdin and writes and output is None:
        raise OutputPathError("reading standard input needs an output file, or '-' for standard output")
    if output == STDIO:
        if many:
            raise OutputPathError("standard output ('-') takes exactly one input file")
        if operation.writes == "figure":
            raise OutputPathError("figures are PNG files; name one, not standard output")
    figure_where = outputs.figure
    if isinstance(operation, Pooling) and operation.figure is not None:
        if figure_where is not None and many and not is_folder(figure_where):
            figure_where = figure_where.rstrip("/") + "/"  # several figures: a folder, as for -o
        if figure_where is not None and not is_folder(figure_where):
            check_figure_path(figure_where)
        if output == STDIO and figure_where is None:
            raise OutputPathError("a figure of an image written to standard output needs a path of its own")
    folder = None
    if output is not None and output != STDIO and (many or is_folder(output)):
        folder = as_path(output)
        if _exists(folder) and not _is_dir(folder):
            raise OutputPathError("is a file, but a folder is needed here", path=output)
        if not _exists(folder) and not is_folder(output) and folder.suffix.lower() in IMAGE_EXTENSIONS:
            # several inputs go to a folder (made as needed); a new one named like an image is surely a slip
            raise OutputPathError(
                "several inputs need an output folder, and this is named like an image file "
                "(end it with '/' to make a folder of that name)",
                path=output,
            )
    if operation.writes == "figure" and output is not None and folder is None:
        check_figure_path(output)

    tag = operation.tag
    fmt = "png" if operation.writes == "figure" else outputs.fmt
    result = Plan(jobs=[], single=not many)
    result.stdout_format = default_extension(Path("-.png"), fmt)
    base = os.getcwd()
    pending: list[tuple[Source, Any]] = []  # targets: local paths or URLs as paths (storage.AnyPath)
    seen: set[tuple[str, str]] = set()
    for source in discover(
        inputs, recursive=options.recursive, follow_links=options.follow_links, own_tag=tag,
        prune=[folder] if folder else [],
    ):  # fmt: skip
        if source.error is not None:
            result.failed.append(_failed(str(source.path), source.error))
            continue
        target = _target(source, tag, output, folder, fmt) if writes else None
        if len(inputs) > 1:  # the same file named twice is one job (one input never names a file twice)
            key = (os.path.abspath(source.path), os.path.abspath(target) if target is not None else "")
            if key in seen:
                continue
            seen.add(key)
        pending.append((source, target))
    if writes:
        pending = _settle_collisions(pending, tag, fmt, options.on_collision)
    inputs_by_id = {ident: str(s.path) for s, _ in pending if (ident := identity(s.path)) is not None}
    checked: set[Any] = set()
    for index, (source, target) in enumerate(pending):
        pending[index] = None  # type: ignore[call-overload]  # free the paths as the jobs take what they need
        job = Job(str(source.path), base=base)
        if target is not None:
            problem = name_too_long(target) if target != Path(STDIO) else None
            if problem is not None:
                result.failed.append(_failed(str(source.path), OutputPathError(problem, path=target)))
                continue
            if operation.writes == "figure":
                job = replace(job, figure=str(target))
            else:
                job = replace(job, target=str(target))
                if isinstance(operation, Pooling) and operation.figure is not None:
                    figure = figure_path(target, figure_where)
                    job = replace(job, figure=str(figure))
        for shown in job.outputs():
            path = as_path(shown)
            _check_not_an_input(path, source.path, inputs_by_id)
            if path.parent not in checked:
                check_folder_usable(path)
                checked.add(path.parent)
        if (
            job.figure is not None
            and job.target is not None
            and os.path.abspath(job.figure) == os.path.abspath(job.target)
        ):
            raise OutputPathError("the figure and the pooled image would be the same file", path=job.figure)
        result.jobs.append(job)
    if options.report is not None:
        check_report_path(options.report, result, inputs_by_id, overwrite=overwrite)
    if options.html is not None:
        from .runpage import is_run_page

        if Path(options.html).suffix.lower() not in (".html", ".htm") and not is_folder(options.html):
            raise OutputPathError("the run page is HTML: give a name ending in .html", path=options.html)
        if options.report is not None and os.path.abspath(options.html) == os.path.abspath(options.report):
            raise OutputPathError("the run page and the report would be the same file", path=options.html)
        check_report_path(options.html, result, inputs_by_id, overwrite=overwrite, what="run page", ours=is_run_page)
    for folder_path in sorted({p for p in checked if isinstance(p, Path) and os.path.isdir(p)}):
        removed = remove_stale_temporaries(folder_path, before=started)
        if removed:
            result.notes.append(f"removed {removed} temporary file(s) an interrupted run left in {folder_path}")
    return result


def _failed(source: str, error: PoolcliError, job: Job | None = None) -> Result:
    target, figure = (job.target, job.figure) if job is not None else (None, None)
    return Result(source, target, "failed", figure=figure, error=str(error), error_kind=type(error).__name__)


def _is_dir(path: str | Path | RemotePath) -> bool:
    """Whether ``path`` is a folder (or a URL prefix); os.path for a local path, so that a name too
    long to exist is simply no folder."""
    return as_path(str(path)).is_dir() if is_url(str(path)) else os.path.isdir(path)


def _exists(path: str | Path | RemotePath) -> bool:
    return as_path(str(path)).exists() if is_url(str(path)) else os.path.exists(path)


def _target(source: Source, tag: str, output: str | None, folder: Any, fmt: str | None) -> Any:
    from .image_io import output_format

    if output == STDIO:
        return Path(STDIO)
    if folder is None:
        if output is not None:  # one input, one output file
            target = as_path(output)
            if fmt:
                target = target.with_suffix(default_extension(source.path, fmt))
            output_format(target)
            return target
        return source.path.parent / output_name(source.path, tag, fmt)
    below = source.path.parent.relative_to(source.root) if source.root is not None else Path()  # type: ignore[arg-type]
    return folder / below / output_name(source.path, tag, fmt)


def _check_not_an_input(output: Any, source: Any, inputs: dict[tuple[int, int], str]) -> None:
    """Refuse an output that is an input of the run: the same path, or the same file through a link."""
    ident = identity(output)
    if os.path.abspath(output) == os.path.abspath(source) or (ident is not None and inputs.get(ident) == str(source)):
        raise OutputPathError("output is the input file itself; refusing to overwrite an input", path=output)
    if ident is not None and ident in inputs:
        raise OutputPathError(f"would overwrite another input ({source} writes it)", path=output)


def check_report_path(report: str, work_plan: Plan, inputs: dict[tuple[int, int], str], *, overwrite: bool,
                      what: str = "report", ours: Any = None) -> None:  # fmt: skip
    """Refuse a report path that is an input, an output of the run, or a file that is not a poolcli report.

    An earlier poolcli report (JSON lines with ``input`` and ``status``) may
    be replaced; any other existing file only with ``overwrite``. The same
    checks serve a run's page: ``what="page"``, with ``ours`` the test of
    an earlier page (a function of the path).
    """
    if is_url(report):
        raise OutputPathError("the report is written to a local file; give a local path", path=report)
    path = Path(report)
    ours = ours or _is_report
    if is_folder(report):
        raise OutputPathError(f"is a directory; the {what} is a file", path=report)
    ident = identity(path)
    if ident is not None and ident in inputs:
        raise OutputPathError(f"the {what} would overwrite an input of this run", path=report)
    outputs = {os.path.abspath(p) for job in work_plan.jobs for p in job.outputs()}
    if os.path.abspath(path) in outputs or (
        ident is not None and any(identity(p) == ident for job in work_plan.jobs for p in job.outputs())
    ):
        raise OutputPathError(f"the {what} would overwrite an output of this run", path=report)
    if os.path.lexists(path) and _is_regular(path) and not overwrite and not ours(path):
        raise NotAReportError(f"exists and is not a poolcli {what}", path=report)
    check_folder_usable(path)


def _is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a device or pipe such as /dev/stdout, written to as it is)."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _is_report(path: Path) -> bool:
    import json

    try:
        with open(path, "rb") as fh:
            head = fh.readline(1 << 16)
        if not head.strip():
            return os.path.getsize(path) == 0
        record = json.loads(head)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and {"input", "status"} <= record.keys()


def _settle_collisions(
    pending: list[tuple[Source, Path | None]], tag: str, fmt: str | None, mode: Collision
) -> list[tuple[Source, Path | None]]:
    clashes = _clashes(pending)
    if not clashes:
        return pending
    if mode == "refuse":
        raise CollisionError(_clash_message(clashes, pending))
    renamed = list(pending)
    for index in {i for group in clashes for i in group}:
        source, target = pending[index]
        assert target is not None
        # keep the source's extension in the name: a.jpg -> a.jpg.<tag>.png
        renamed[index] = (source, target.with_name(f"{source.path.name}.{tag}{default_extension(source.path, fmt)}"))
    still = _clashes(renamed)
    if still:
        raise OutputPathError(_clash_message(still, renamed))
    return renamed


def _clashes(pending: list[tuple[Source, Path | None]]) -> list[list[int]]:
    by_target: dict[str, list[int]] = {}
    for i, (_, target) in enumerate(pending):
        if target is not None and target != Path(STDIO):
            by_target.setdefault(os.path.normcase(os.path.abspath(target)), []).append(i)
    return [group for group in by_target.values() if len(group) > 1]


def _clash_message(clashes: list[list[int]], pending: list[tuple[Source, Path | None]]) -> str:
    shown = [f"{pending[group[0]][1]} <- {', '.join(str(pending[i][0].path) for i in group)}" for group in clashes[:5]]
    more = f"; and {len(clashes) - 5} more" if len(clashes) > 5 else ""
    return f"{len(clashes)} output(s) would be written by several inputs: {'; '.join(shown)}{more}"


# --- running ----------------------------------------------------------------------------------------


def will_pool(operation: Any, dry_run: bool) -> bool:
    """Whether a run of ``operation`` pools (so imports torch); a dry run and ``info`` do not."""
    return not dry_run and getattr(operation, "pools", True)


def execute(
    inputs: Sequence[str],
    operation: Any,
    listener: Listener,
    *,
    read: ReadOptions = ReadOptions(),
    write: WriteOptions = WriteOptions(),
    outputs: Outputs = Outputs(),
    options: RunOptions = RunOptions(),
    device: str = "auto",
    dry_run: bool = False,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    started: float | None = None,
) -> Summary:
    """Plan every job (usage problems raise before any work), then run them all.

    Parameters
    ----------
    operation
        A :mod:`poolcli.pipeline` operation (:class:`~poolcli.pipeline.Pooling`, ...).
    listener
        Gets the count, each result as it finishes, notes and the summary.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``. A dry run on ``auto`` or
        ``cpu`` does not import torch: nothing is pooled.
    stdin, stdout : binary streams
        Where ``-`` reads and writes.

    Returns
    -------
    Summary

    Raises
    ------
    UsageProblem
        Before any work: bad outputs, devices, engines, report paths.
    KeyboardInterrupt
        After Ctrl-C (or SIGTERM raised as one): no new image is started,
        the ones being written are finished (every write is atomic either
        way), the summary is told, and the interrupt goes on to the caller.
    """
    wall = time.time() if started is None else started
    dev = _device(device, dry_run)
    workers, capped = _workers(options.jobs)
    pools = will_pool(operation, dry_run)
    engine = make_engine(
        options.engine, workers, torch_threads=1 if pools and workers > 1 and dev.startswith("cpu") else None,
        scheduler=options.scheduler, retries=options.retries,
    )  # fmt: skip
    work_plan = plan(inputs, operation, outputs, options, overwrite=write.overwrite, started=wall)
    if capped:
        work_plan.notes.append(f"--jobs {options.jobs} lowered to {workers} ({JOBS_PER_CORE} per CPU core)")
    local = [p for p in (*inputs, outputs.output) if p is not None and p != STDIO and not is_url(p)]
    if getattr(engine, "remote", False) and local:
        work_plan.notes.append(
            f"the dask scheduler at {getattr(engine, 'address', None)} runs this on its workers: they must see these "
            "local paths as this machine does (a shared file system mounted at the same place); URLs (s3://...) "
            "need none"
        )
    jobs = [_with_stdin(job, stdin, read) for job in work_plan.jobs]
    work = Work(operation, read, replace(write, stdout_format=work_plan.stdout_format), dev, dry_run,
                thumbs=options.html is not None and not dry_run)  # fmt: skip
    summary = Summary()
    listener.start(len(jobs) + len(work_plan.failed))
    for note in work_plan.notes:
        listener.note(note)

    base = work_plan.jobs[0].base if work_plan.jobs else ""
    again: list[Result] = []  # failures that may pass, held back: each input is told once, when final
    last_round = options.retries == 0

    def handle(results: list[Result]) -> None:
        for result in results:
            if result.passing and not last_round and result.source != STDIO:
                again.append(result)
                continue
            if work_plan.single and result.status == "skipped":
                result.status = "failed"  # an output asked for by name that cannot be written
            if result.data is not None:
                _to_stdout(result, stdout)
            summary.add(result)
            listener.add(result)

    handle(work_plan.failed)
    chunk: int = getattr(engine, "chunk", 1)
    size = options.batch_size or (4 if dev.startswith("cuda") else chunk)
    # A group never takes more than its share of the jobs, so grouping for the GPU does
    # not leave workers idle: decoding and encoding, not pooling, dominate a batch.
    size = max(1, min(size, -(-len(jobs) // workers))) if jobs else 1
    fn = partial(process_chunk, work=work)

    def lost(chunk: list[Job], error: BaseException) -> None:  # a task that raised: its files failed
        kind = type(error).__name__
        lost_worker = kind in ("KilledWorker", "BrokenProcessPool")
        why = f"lost with its worker ({kind}: {error})" if lost_worker else f"internal error: {kind}: {error}"
        error_type = WorkerLostError if lost_worker else PoolcliError
        handle([_failed(job.source, error_type(why, path=job.source), job) for job in chunk])

    try:
        engine.run(fn, chunked(jobs, size), handle, lost)
        for attempt in range(options.retries):  # files whose failure may pass, tried again after the others
            if not again:
                break
            last_round = attempt == options.retries - 1
            retry = [Job(r.source, r.target, r.figure, base=base) for r in again]
            again.clear()
            engine.run(fn, chunked(retry, 1), handle, lost)
    except KeyboardInterrupt:
        summary.interrupted = True
        last_round = True
        handle(again)  # not tried again: told as they last failed
        raise
    finally:
        try:
            engine.close()
        finally:
            listener.finish(summary)
    return summary


def _device(device: str, dry_run: bool) -> str:
    name = (device or "auto").strip().lower()
    if name == "cpu" or (dry_run and name == "auto"):
        return "cpu"  # no need to import torch to look for a GPU (in a dry run, nothing is pooled)
    from .tensor import resolve_device

    return str(resolve_device(name))


def _workers(jobs: int | None) -> tuple[int, bool]:
    cores = default_workers()
    if jobs is None:
        return cores, False
    limit = JOBS_PER_CORE * cores
    return (limit, True) if jobs > limit else (jobs, False)


def _with_stdin(job: Job, stdin: IO[bytes] | None, read: ReadOptions) -> Job:
    if job.source != STDIO:
        return job
    from .image_io import read_stream

    if stdin is None:
        return job
    return replace(job, data=read_stream(stdin, max_pixels=read.max_pixels, name=STDIO))


def _to_stdout(result: Result, stdout: IO[bytes] | None) -> None:
    """Write a result's image to standard output; a closed pipe or stream fails that result."""
    from .errors import WriteError

    data, result.data = result.data or b"", None
    try:
        if stdout is None:
            raise OSError("standard output is closed")
        # in pieces: one large write to a pipe whose reader left can come back as if it had all gone through
        for start in range(0, len(data), 1 << 16):
            stdout.write(data[start : start + (1 << 16)])
        stdout.flush()
    except (OSError, ValueError) as exc:
        reason = (
            "broken pipe (the reader went away)"
            if isinstance(exc, BrokenPipeError)
            else getattr(exc, "strerror", None) or str(exc)
        )
        error = WriteError(f"write failed: {reason}", path=STDIO)
        result.status, result.error, result.error_kind = "failed", str(error), type(error).__name__

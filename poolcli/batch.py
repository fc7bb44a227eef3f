"""Many images at once: find the inputs, plan every output, run them in parallel, report.

The stages follow the data: :func:`discover` turns the command line's files,
folders and glob patterns into image files; :func:`plan` gives each one its
output and settles collisions before anything is read (usage problems stop
the run here, with nothing done); :func:`run` pushes the jobs through
:func:`poolcli.pipeline.process` on a bounded pool of worker threads and
hands every :class:`~poolcli.pipeline.Result` to a listener (the CLI's
:class:`poolcli.report.Reporter`, which prints them).

Only paths are held for the whole run; at most ``2 * jobs`` tasks (of
``batch_size`` images each) are in flight, so memory does not grow with the
number of files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from .errors import OutputPathError
from .params import OUTPUT_NAME
from .paths import (
    IMAGE_EXTENSIONS,
    STDIO,
    TEMP_SUFFIX,
    Job,
    check_folder_usable,
    check_not_input,
    default_extension,
    plan_figure,
)
from .paths import plan_single as _plan_single
from .sniff import SNIFF_BYTES, looks_like_image

if TYPE_CHECKING:
    from .pipeline import FileOptions, Operation, Result

Collision = Literal["rename", "refuse"]


class Listener(Protocol):
    """What :func:`run` tells as it goes (the CLI's :class:`poolcli.report.Reporter`)."""

    def start(self, total: int) -> None: ...

    def add(self, result: Result) -> None: ...

    def finish(self, summary: Summary) -> None: ...


COLLISION_MODES: tuple[str, ...] = ("rename", "refuse")

# --- finding images ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One input found on the command line.

    ``root`` is the folder (or the fixed start of a glob pattern) it was
    found under, whose tree an output folder mirrors; None for a file named
    as such. ``error`` is set for an input that failed before it could be
    read (an unreadable folder, a pattern that matches nothing).
    """

    path: Path
    root: Path | None = None
    error: str | None = None


def discover(
    inputs: Iterable[str],
    *,
    recursive: bool = False,
    follow_links: bool = False,
    own_tag: str | None = None,
    prune: Iterable[Path] = (),
) -> Iterator[Source]:
    """The image files the command line names, in a stable order.

    A named file is always yielded (it is read, and fails if it is not an
    image). A folder yields its image files, sorted by name: those with an
    image extension, and those whose first bytes say image whatever their
    name; subfolders only with ``recursive``. A glob pattern (``*``, ``?``,
    ``[...]``; ``**`` spans any number of folders) yields the image files it
    matches, found the same way.

    Parameters
    ----------
    own_tag : str, optional
        The tag of a run that writes outputs: files found in folders named
        ``<stem>.<own_tag>.<ext>`` or like any other poolcli output
        (:func:`poolcli.params.is_output_name`), and poolcli's temporary
        files, are skipped, so a run does not pool earlier results.
    prune : paths
        Folders not to descend into (the output folder inside an input folder).
    follow_links : bool
        Descend into symbolic links to folders. Each folder is visited once
        either way, so a link loop ends.
    """
    own = _own_output_matcher(own_tag)
    pruned = {_folder_id(p) for p in prune} - {None}
    for item in inputs:
        path = Path(item)
        if item == str(STDIO):
            yield Source(STDIO)
        elif path.is_dir():
            found = False
            for source in _walk(path, None if recursive else 0, follow_links, own, pruned):
                found = True
                yield source
            if not found:
                hint = "" if recursive else " (-r looks in subfolders)"
                yield Source(path, error=f"is a directory with no images in it{hint}")
        elif not os.path.lexists(path) and _is_pattern(item):
            found = False
            for source in _walk_pattern(item, follow_links, own, pruned):
                found = True
                yield source
            if not found:
                yield Source(path, error="no file matches this pattern")
        else:
            yield Source(path)


def _walk_pattern(pattern: str, follow_links: bool, own: re.Pattern[str] | None, pruned: set) -> Iterator[Source]:
    # glob.glob's "**" follows links to folders with no loop check; walk with ours instead
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if _is_pattern(part)), len(parts))
    root, rest = Path(*parts[:fixed]) if fixed else Path("."), parts[fixed:]
    if not root.is_dir():
        return
    depth = None if "**" in rest else len(rest) - 1
    for source in _walk(root, depth, follow_links, own, pruned):
        if source.error is not None or _match_parts(source.path.relative_to(root).parts, rest):
            yield source


def _match_parts(names: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    """Whether path components match pattern components (``**``: any number of folders).

    As in a shell, a wildcard does not match a name starting with a dot.
    """
    if not patterns:
        return not names
    if patterns[0] == "**":
        return any(_match_parts(names[i:], patterns[1:]) for i in range(len(names) + 1))
    if not names or (names[0].startswith(".") and not patterns[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], patterns[0]) and _match_parts(names[1:], patterns[1:])


def _walk(
    root: Path, depth: int | None, follow_links: bool, own: re.Pattern[str] | None, pruned: set
) -> Iterator[Source]:
    """Image files below ``root``, ``depth`` folders deep at most (None: all)."""
    seen: set[tuple[int, int] | None] = set()
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, level = stack.pop()
        try:
            ident = _folder_id(folder)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Source(folder, root, error=_os_reason(exc))
            continue
        if ident in seen:  # reached again through a link: a loop, or a second way in
            continue
        seen.add(ident)
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=follow_links):
                    if (depth is None or level < depth) and _folder_id(Path(entry.path)) not in pruned:
                        subfolders.append((Path(entry.path), level + 1))
                    continue
                # sockets, FIFOs (reading one would block), dangling links, unfollowed links to folders
                if not entry.is_file():
                    continue
            except OSError:
                continue
            if _wanted(Path(entry.path), own):
                yield Source(Path(entry.path), root)
        stack.extend(reversed(subfolders))


def _wanted(path: Path, own: re.Pattern[str] | None) -> bool:
    name = path.name
    if name.endswith(TEMP_SUFFIX) or (own is not None and own.fullmatch(name)):
        return False
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as fh:
            return looks_like_image(fh.read(SNIFF_BYTES))
    except OSError:
        return False


def _own_output_matcher(tag: str | None) -> re.Pattern[str] | None:
    if tag is None:
        return None
    return re.compile(rf".+\.{re.escape(tag)}\.[A-Za-z0-9]+|{OUTPUT_NAME.pattern}")


def _folder_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


# --- planning --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Every job of a run, decided before any image is read.

    Attributes
    ----------
    jobs : list of Job
        Distinct sources, each with its own target.
    failed : list of Result
        Inputs that failed during discovery; reported with the rest.
    single : bool
        One file named on its own: an existing output is an error, not a skip.
    stdout_format : str
        The encoding of a target that is standard output.
    """

    jobs: list[Job]
    failed: list[Result] = field(default_factory=list)
    single: bool = False
    stdout_format: str = ".png"

    @property
    def to_stdout(self) -> bool:
        return any(job.target == STDIO for job in self.jobs)


def plan(
    inputs: Iterable[str],
    tag: str,
    *,
    output: str | None = None,
    fmt: str | None = None,
    recursive: bool = False,
    follow_links: bool = False,
    on_collision: Collision = "rename",
    figure: str | None = None,
) -> Plan:
    """Find the inputs and decide every output (see :func:`discover` for the inputs).

    Outputs are named ``<stem>.<tag>.<ext>``: beside each input, or in the
    ``output`` folder, mirroring the tree below each input folder; ``output``
    may also be a file (one input) or ``-`` (standard output, one input).
    When several inputs would write one output (``a.jpg`` and ``a.png`` with
    ``--format png``), ``on_collision="rename"`` keeps each source's
    extension in its name (``a.jpg.<tag>.png``); ``"refuse"``, or a clash
    that renaming does not settle, raises. ``figure`` (``--compare``) also
    gives each job a comparison figure: ``""`` beside its output, a folder,
    or a ``.png`` file for one input (:func:`poolcli.paths.plan_figure`).

    Raises
    ------
    OutputPathError
        The outputs cannot be planned: several inputs for one output file,
        colliding outputs, an output that is an input, a folder that is a file.
    """
    from .pipeline import Result

    inputs = list(inputs)
    stdin = str(STDIO) in inputs
    many = len(inputs) > 1 or any(Path(i).is_dir() or (_is_pattern(i) and not os.path.lexists(i)) for i in inputs)
    if stdin and len(inputs) > 1:
        raise OutputPathError("'-' (standard input) must be the only input")
    if stdin and output is None:
        raise OutputPathError("reading standard input needs -o FILE, or -o - for standard output")
    if output == str(STDIO) and many:
        raise OutputPathError("-o - (standard output) takes exactly one input file")
    folder = None
    if output is not None and output != str(STDIO):
        if output.endswith(("/", os.sep)) or os.path.isdir(output):
            folder = Path(output)
            if folder.exists() and not folder.is_dir():
                raise OutputPathError("is a file, but a folder is needed here", path=output)
        elif many:
            raise OutputPathError("several inputs need an output folder (end it with '/')", path=output)
    if figure and many and not (figure.endswith(("/", os.sep)) or Path(figure).is_dir()):
        raise OutputPathError("several inputs need a figure folder (end it with '/')", path=figure)

    result = Plan(jobs=[], single=not many)
    result.stdout_format = default_extension(Path("-.png"), fmt)
    pending: list[tuple[Source, Path]] = []
    seen: set[tuple[str, str]] = set()
    for source in discover(
        inputs, recursive=recursive, follow_links=follow_links, own_tag=tag, prune=[folder] if folder else []
    ):
        if source.error is not None:
            result.failed.append(Result(source.path, None, "failed", error=f"{source.path}: {source.error}"))
            continue
        target = _target(source, tag, output, folder, fmt)
        key = (os.path.abspath(source.path), os.path.abspath(target))
        if key not in seen:  # the same file named twice is one job
            seen.add(key)
            pending.append((source, target))
    pending = _settle_collisions(pending, tag, fmt, on_collision)
    sources = {os.path.abspath(source.path) for source, _ in pending if source.path != STDIO}
    checked: set[Path] = set()
    for source, target in pending:
        if target != STDIO and os.path.abspath(target) in sources:
            raise OutputPathError(f"would overwrite another input ({source.path} writes it)", path=target)
        if source.path != STDIO and target != STDIO:
            check_not_input(source.path, target)
        if target.parent not in checked:
            check_folder_usable(target)
            checked.add(target.parent)
        job = Job(source.path, target)
        result.jobs.append(job if figure is None else plan_figure(job, figure))
    return result


def _target(source: Source, tag: str, output: str | None, folder: Path | None, fmt: str | None) -> Path:
    from .paths import output_name

    if output == str(STDIO):
        return STDIO
    if folder is None:
        if output is not None:  # one input, one output file
            return _plan_single(source.path, tag, output, fmt).target
        return source.path.parent / output_name(source.path, tag, fmt)
    below = source.path.parent.relative_to(source.root) if source.root is not None else Path()
    return folder / below / output_name(source.path, tag, fmt)


def _settle_collisions(
    pending: list[tuple[Source, Path]], tag: str, fmt: str | None, mode: Collision
) -> list[tuple[Source, Path]]:
    clashes = _clashes(pending)
    if not clashes:
        return pending
    if mode == "refuse":
        raise OutputPathError(_clash_message(clashes, pending) + " (or use --on-collision rename)")
    renamed = list(pending)
    for index in {i for group in clashes for i in group}:
        source, target = pending[index]
        # keep the source's extension in the name: a.jpg -> a.jpg.<tag>.png
        renamed[index] = (source, target.with_name(f"{source.path.name}.{tag}{default_extension(source.path, fmt)}"))
    still = _clashes(renamed)
    if still:
        raise OutputPathError(_clash_message(still, renamed))
    return renamed


def _clashes(pending: list[tuple[Source, Path]]) -> list[list[int]]:
    by_target: dict[str, list[int]] = {}
    for i, (_, target) in enumerate(pending):
        if target != STDIO:
            by_target.setdefault(os.path.normcase(os.path.abspath(target)), []).append(i)
    return [group for group in by_target.values() if len(group) > 1]


def _clash_message(clashes: list[list[int]], pending: list[tuple[Source, Path]]) -> str:
    shown = [f"{pending[group[0]][1]} <- {', '.join(str(pending[i][0].path) for i in group)}" for group in clashes[:5]]
    more = f"; and {len(clashes) - 5} more" if len(clashes) > 5 else ""
    return f"{len(clashes)} output(s) would be written by several inputs: {'; '.join(shown)}{more}"


# --- running ----------------------------------------------------------------------------------------


@dataclass
class Summary:
    """Counts of a run, and how long its work took."""

    written: int = 0
    planned: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def add(self, result: Result) -> None:
        if result.status == "written":
            self.written += 1
        elif result.status == "planned":
            self.planned += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    @property
    def done(self) -> int:
        return self.written + self.planned + self.skipped + self.failed


def default_jobs() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run(
    work_plan: Plan, op: Operation | None, opts: FileOptions, reporter: Listener, *, jobs: int | None = None,
    batch_size: int = 1, step: Callable[[Job], Result] | None = None,
) -> Summary:  # fmt: skip
    """Run every job of ``work_plan``; each result goes to ``reporter`` as it is done.

    Parameters
    ----------
    jobs : int, optional
        Worker threads (default :func:`default_jobs`). Decoding, pooling and
        encoding release the GIL, so different images overlap.
    batch_size : int
        Images handed to a worker at once; images of one shape among them
        are pooled as one (N, C, H, W) tensor (:func:`~poolcli.pipeline.process_group`).
    step : callable, optional
        Do this to each job instead of pooling it with ``op``
        (``poolcli compare`` draws a figure per input this way).

    Returns
    -------
    Summary

    Raises
    ------
    KeyboardInterrupt
        After Ctrl-C: no new image is started, the ones being written are
        finished (every write is atomic either way), the summary is
        reported, and the interrupt goes on to the caller.
    """
    from .pipeline import process, process_group

    jobs = jobs or default_jobs()
    summary = Summary()
    start = time.perf_counter()
    reporter.start(len(work_plan.jobs) + len(work_plan.failed))

    def handle(results: list[Result]) -> None:
        for result in results:
            if work_plan.single and result.status == "skipped":
                result.status = "failed"  # an output asked for by name that cannot be written
            summary.add(result)
            reporter.add(result)

    def work(chunk: list[Job]) -> list[Result]:
        if step is not None:
            return [step(job) for job in chunk]
        assert op is not None, "run() needs an operation or a step"
        if len(chunk) == 1:
            return [process(chunk[0], op, opts)]
        return process_group(chunk, op, opts)

    handle(work_plan.failed)
    # A group never takes more than its share of the jobs, so grouping for the GPU does
    # not leave workers idle: decoding and encoding, not pooling, dominate a batch.
    size = max(1, min(batch_size, -(-len(work_plan.jobs) // jobs)))
    chunks = (work_plan.jobs[i : i + size] for i in range(0, len(work_plan.jobs), size))
    try:
        with _torch_threads(jobs, "cpu" if op is None else op.device):
            if jobs == 1:
                for chunk in chunks:
                    handle(work(chunk))
            else:
                _run_threads(chunks, work, handle, jobs)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        summary.seconds = time.perf_counter() - start
        reporter.finish(summary)
    return summary


def _run_threads(
    chunks: Iterator[list[Job]],
    work: Callable[[list[Job]], list[Result]],
    handle: Callable[[list[Result]], None],
    jobs: int,
) -> None:
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="poolcli")
    pending: set[Future] = set()

    def collect() -> None:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            handle(future.result())
            pending.discard(future)  # only once handled: an interrupt must not lose a result

    try:
        for chunk in chunks:
            while len(pending) >= 2 * jobs:  # a bounded stream, not a queue of every file
                collect()
            pending.add(pool.submit(work, chunk))
        while pending:
            collect()
    except KeyboardInterrupt:
        # Stop promptly: drop what has not started, keep (and report) what finishes.
        running = [f for f in pending if not f.cancel()]
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C stops the waiting too
            for future in running:
                handle(future.result())
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def _torch_threads(jobs: int, device: str) -> Iterator[None]:
    """One torch thread per worker on the CPU while ``jobs`` workers pool at once.

    Each worker already keeps a core busy; torch's own intra-op threads on
    top of that only contend for the same cores (measured in
    benchmarks/batch_bench.py).
    """
    if jobs == 1 or not device.startswith("cpu"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- reporting --------------------------------------------------------------------------------------

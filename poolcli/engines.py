"""Engines: what runs the per-file function over the jobs of a run.

Every engine has one method, :meth:`Engine.run`: apply a picklable function
to each item (a chunk of :class:`~poolcli.pipeline.Job` s) and hand each
return value to a callback, in the calling thread, as it finishes. At most
``2 * workers`` items are in flight, so memory does not grow with the number
of files. After Ctrl-C (or SIGTERM, which the CLI raises as an interrupt) an
engine starts nothing new, hands on what the running items return, and
re-raises. Resume, reporting and progress are not the engine's business.

* :class:`ThreadEngine`: worker threads in this process (decoding, pooling
  and encoding release the GIL, so images overlap).
* :class:`ProcessEngine`: worker processes, each with one torch thread.

A new engine (a cluster) is one more class with the same ``run``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from .errors import EngineError

T = TypeVar("T")
R = TypeVar("R")

#: The engines the ``--engine`` option names.
ENGINES: tuple[str, ...] = ("threads", "processes")


class Engine(Protocol):
    """Runs ``fn`` over ``items``; ``on_result`` gets each return value as it arrives."""

    workers: int

    def run(self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None]) -> None: ...


def default_workers() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_engine(name: str, workers: int, *, torch_threads: int | None = None) -> Engine:
    """The engine called ``name`` with ``workers`` workers.

    ``torch_threads`` (threads engine) sets torch's intra-op threads for the
    run and restores them after: the caller's choice, made explicit. Worker
    processes always use one torch thread each.
    """
    if name == "threads":
        return ThreadEngine(workers, torch_threads=torch_threads)
    if name == "processes":
        return ProcessEngine(workers)
    raise EngineError(f"unknown engine {name!r} (use {', '.join(ENGINES)})")


class ThreadEngine:
    """Worker threads in this process; one worker runs items in the calling thread."""

    def __init__(self, workers: int, *, torch_threads: int | None = None) -> None:
        self.workers = max(1, workers)
        self.torch_threads = torch_threads

    def run(self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None]) -> None:
        with _torch_threads(self.torch_threads):
            if self.workers == 1:
                for item in items:
                    on_result(fn(item))
                return
            pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="poolcli")
            try:
                _stream(pool, fn, items, on_result, self.workers)
            finally:
                pool.shutdown(wait=False, cancel_futures=True)


class ProcessEngine:
    """Worker processes (started fresh, not forked from this one), one torch thread each.

    Workers ignore SIGINT and SIGTERM: a terminal's Ctrl-C reaches the whole
    process group, and this process decides (it lets running files finish).
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None]) -> None:
        import multiprocessing  # here: process machinery costs start-up time every other command would pay
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_start)
        try:
            _stream(pool, fn, items, on_result, self.workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _worker_start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)


def _stream(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None], workers: int
) -> None:
    """Keep at most ``2 * workers`` items in flight; hand results on as they finish."""
    pending: set[Future[R]] = set()

    def collect() -> None:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            on_result(future.result())
            pending.discard(future)  # only once handled: an interrupt must not lose a result

    try:
        for item in items:
            while len(pending) >= 2 * workers:  # a bounded stream, not a queue of every file
                collect()
            pending.add(pool.submit(fn, item))
        while pending:
            collect()
    except KeyboardInterrupt:
        # Stop promptly: drop what has not started, keep (and hand on) what finishes.
        running = [f for f in pending if not f.cancel()]
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C stops the waiting too
            for future in running:
                with contextlib.suppress(Exception):
                    on_result(future.result())
        raise


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]

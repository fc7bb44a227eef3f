"""Engines: what runs the per-file function over the jobs of a run.

Every engine has one method, :meth:`Engine.run`: apply a picklable function
to each item (a chunk of :class:`~poolcli.pipeline.Job` s) and hand each
return value to a callback, in the calling thread, as it finishes. At most
``2 * workers`` items are in flight, so memory does not grow with the number
of files. After Ctrl-C (or SIGTERM, which the CLI raises as an interrupt) an
engine starts nothing new, hands on what the running items return, and
re-raises. An item whose function raised instead of returning (on a cluster:
its workers died more often than the cluster allows) goes to ``on_error``
when one is given, and otherwise raises. ``close()`` releases what the engine
holds between runs (a cluster). Resume, retries, reporting and progress are
not the engine's business.

* :class:`ThreadEngine`: worker threads in this process (decoding, pooling
  and encoding release the GIL, so images overlap).
* :class:`ProcessEngine`: worker processes, each with one torch thread.
* :class:`DaskEngine`: a Dask cluster (``pip install 'poolcli[dask]'``): one
  at an address, or a local one on 127.0.0.1 started for the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from .errors import EngineError

T = TypeVar("T")
R = TypeVar("R")

#: The engines the ``--engine`` option names.
ENGINES: tuple[str, ...] = ("threads", "processes", "dask")

#: What ``on_error`` gets: the item whose function raised, and the exception.
OnError = Callable[[Any, BaseException], None]


class Engine(Protocol):
    """Runs ``fn`` over ``items``; ``on_result`` gets each return value as it arrives."""

    workers: int

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None], on_error: OnError | None = None
    ) -> None: ...

    def close(self) -> None: ...


def default_workers() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_engine(
    name: str, workers: int, *, torch_threads: int | None = None, scheduler: str | None = None, retries: int = 2
) -> Engine:
    """The engine called ``name`` with ``workers`` workers.

    ``torch_threads`` (threads engine) sets torch's intra-op threads for the
    run and restores them after: the caller's choice, made explicit. Worker
    processes always use one torch thread each. ``scheduler`` and
    ``retries`` are the dask engine's (see :class:`DaskEngine`).

    Raises
    ------
    EngineError
        An unknown name, ``scheduler`` for another engine than dask, or the
        dask engine without its packages.
    """
    if scheduler is not None and name != "dask":
        raise EngineError(f"--scheduler is for --engine dask, not {name}")
    if name == "threads":
        return ThreadEngine(workers, torch_threads=torch_threads)
    if name == "processes":
        return ProcessEngine(workers)
    if name == "dask":
        return DaskEngine(workers, scheduler=scheduler, retries=retries)
    raise EngineError(f"unknown engine {name!r} (use {', '.join(ENGINES)})")


class ThreadEngine:
    """Worker threads in this process; one worker runs items in the calling thread."""

    def __init__(self, workers: int, *, torch_threads: int | None = None) -> None:
        self.workers = max(1, workers)
        self.torch_threads = torch_threads

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None], on_error: OnError | None = None
    ) -> None:
        with _torch_threads(self.torch_threads):
            if self.workers == 1:
                for item in items:
                    try:
                        value = fn(item)
                    except Exception as exc:
                        if on_error is None:
                            raise
                        on_error(item, exc)
                    else:
                        on_result(value)
                return
            pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="poolcli")
            try:
                _stream(pool, fn, items, on_result, self.workers, on_error)
            finally:
                pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pass


class ProcessEngine:
    """Worker processes (started fresh, not forked from this one), one torch thread each.

    Workers ignore SIGINT and SIGTERM: a terminal's Ctrl-C reaches the whole
    process group, and this process decides (it lets running files finish).
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None], on_error: OnError | None = None
    ) -> None:
        import multiprocessing  # here: process machinery costs start-up time every other command would pay
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_start)
        try:
            _stream(pool, fn, items, on_result, self.workers, on_error)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


def _worker_start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)


def _stream(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None], workers: int,
    on_error: OnError | None = None,
) -> None:  # fmt: skip
    """Keep at most ``2 * workers`` items in flight; hand results on as they finish."""
    pending: dict[Future[R], T] = {}

    def collect() -> None:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            error = future.exception()
            if error is None:
                on_result(future.result())
            elif on_error is None:
                raise error
            else:
                on_error(pending[future], error)
            del pending[future]  # only once handled: an interrupt must not lose a result

    try:
        for item in items:
            while len(pending) >= 2 * workers:  # a bounded stream, not a queue of every file
                collect()
            pending[pool.submit(fn, item)] = item
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


# --- Dask ---------------------------------------------------------------------------------------


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise EngineError(
            "the dask engine needs Dask and distributed, which are not installed: pip install 'poolcli[dask]'"
        ) from None


class DaskEngine:
    """A Dask cluster: the one at ``scheduler``, or a local one started for the run.

    Without ``scheduler``, the address in ``DASK_SCHEDULER_ADDRESS`` (Dask's
    own setting, ``scheduler-address``) is used, and without that a
    ``LocalCluster`` is started on the first run: ``workers`` worker
    processes of one thread each, scheduler and workers listening on
    127.0.0.1 only, no dashboard; :meth:`close` stops it. Its workers ignore
    SIGINT (a terminal's Ctrl-C reaches the whole process group; this
    process decides), and a file whose worker dies is run again on another,
    up to ``retries`` times (Dask's ``allowed-failures``). A cluster at an
    address keeps its own settings. Jobs are submitted in a window of twice
    the cluster's threads and come back with ``as_completed``; the client
    holds the window's jobs and results, never an image.
    """

    #: Files a task when ``--batch-size`` is not given: a task costs the client and the scheduler a few
    #: milliseconds, so four files share it (grouped pooling gives the same bytes, see process_chunk).
    chunk = 4

    def __init__(self, workers: int, *, scheduler: str | None = None, retries: int = 2) -> None:
        _require_dask()
        import dask

        self.workers = max(1, workers)
        self.scheduler = scheduler or dask.config.get("scheduler-address", None) or None
        self.retries = retries
        self._client: Any = None
        self._cluster: Any = None

    @property
    def remote(self) -> bool:
        """Whether the work runs on a cluster at an address (whose workers may be other machines)."""
        return self.scheduler is not None

    @property
    def address(self) -> str | None:
        """The scheduler's address: the one given, or the local cluster's once started."""
        return self.scheduler or (self._cluster.scheduler_address if self._cluster is not None else None)

    def start(self) -> Any:
        """Connect to the cluster, or start the local one (the first :meth:`run` does it); the client."""
        if self._client is not None:
            return self._client
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self._client = Client(self.scheduler, set_as_default=False)
            except (OSError, ValueError) as exc:
                raise EngineError(f"cannot reach the dask scheduler at {self.scheduler}: {exc}") from None
            return self._client
        # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive mmap
        # threshold: every decoded image (megabytes) is then mapped and faulted in afresh. Measured on 1080p
        # JPEGs, that made a local cluster 20 % slower; poolcli's own cluster goes without it.
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), "MALLOC_TRIM_THRESHOLD_": None}
        settings = {
            "distributed.scheduler.allowed-failures": self.retries,
            "distributed.nanny.pre-spawn-environ": environ,
        }
        with dask.config.set(settings):
            self._cluster = LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.CRITICAL, preload=[__name__],
                # no dashboard; the scheduler's small HTTP server (health, metrics) on any free loopback port;
                # Dask's own log lines (a heartbeat lost as the cluster closes) are not the user's business
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            )  # fmt: skip
        self._client = Client(self._cluster, set_as_default=False)
        return self._client

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], on_result: Callable[[R], None], on_error: OnError | None = None
    ) -> None:
        from distributed import as_completed

        client = self.start()
        window = 2 * max(1, sum(client.nthreads().values()))
        pending: dict[Any, T] = {}
        finished = as_completed(loop=client.loop)

        def collect() -> None:
            future = next(finished)
            if future.status == "finished":
                on_result(future.result())
            else:
                error = _future_error(future)
                if on_error is None:
                    raise error
                on_error(pending[future], error)
            del pending[future]  # only once handled: an interrupt must not lose a result
            future.release()

        try:
            for item in items:
                while len(pending) >= window:  # a bounded stream, not a future per file up front
                    collect()
                future = client.submit(fn, item, pure=False)
                pending[future] = item
                finished.add(future)
            while pending:
                collect()
        except KeyboardInterrupt:
            # Stop promptly: cancel what is still queued on the scheduler; hand on what a worker has
            # (running, next in its queue, or done), so every file written is told.
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C stops the waiting too
                states = client.run_on_scheduler(_task_states, [f.key for f in pending]) if pending else {}
                taken = {key for key, state in states.items() if state in ("processing", "memory", "erred")}
                client.cancel([f for f in pending if f.key not in taken])
                for future in [f for f in pending if f.key in taken]:
                    with contextlib.suppress(Exception):
                        on_result(future.result())
            raise

    def close(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _task_states(keys: list[Any], dask_scheduler: Any = None) -> dict[Any, str]:
    """On the scheduler: each task's state (``queued``, ``processing``, ``memory``, ...)."""
    tasks = dask_scheduler.tasks
    return {key: tasks[key].state if key in tasks else "forgotten" for key in keys}


def _future_error(future: Any) -> BaseException:
    try:
        error = future.exception()
    except BaseException as exc:  # cancelled: the scheduler dropped it
        return exc
    return error if error is not None else RuntimeError(f"task ended as {future.status}")


def dask_setup(worker: Any) -> None:
    """Dask preload for the local cluster's worker processes: leave Ctrl-C to the client.

    A terminal sends SIGINT to the whole process group; the client cancels
    what has not started and lets running files finish, as worker processes
    of the processes engine do.
    """
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

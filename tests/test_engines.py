"""Engines: the same results from threads and processes, a bounded stream, and interrupts that lose nothing."""

from __future__ import annotations

import operator
import sys
import threading

import pytest
import torch

from poolcli.engines import ProcessEngine, ThreadEngine, chunked, make_engine
from poolcli.errors import EngineError


def _torch_threads(_: int) -> int:
    import torch

    return torch.get_num_threads()


@pytest.mark.parametrize(
    "engine", [ThreadEngine(1), ThreadEngine(3), ProcessEngine(2)], ids=["serial", "threads", "processes"]
)
def test_every_engine_hands_on_every_result(engine):
    got: list[int] = []
    engine.run(operator.neg, range(40), got.append)
    assert sorted(got) == sorted(-i for i in range(40))


def test_worker_processes_pool_with_one_torch_thread_each():
    got: list[int] = []
    ProcessEngine(2).run(_torch_threads, range(4), got.append)
    assert got == [1, 1, 1, 1]


def test_the_thread_engine_sets_torch_threads_only_when_asked_and_restores_them():
    before = torch.get_num_threads()
    seen: list[int] = []
    ThreadEngine(2, torch_threads=1).run(_torch_threads, range(3), seen.append)
    assert seen == [1, 1, 1] and torch.get_num_threads() == before
    ThreadEngine(2).run(_torch_threads, range(2), seen.append)
    assert seen[-2:] == [before, before]


def in_flight(engine) -> dict[str, int]:
    """Run 60 items through ``engine``; how many were handled, and the most pulled but not yet handled."""
    lock, state = threading.Lock(), {"pulled": 0, "handled": 0, "most": 0}

    def items():
        for i in range(60):
            with lock:
                state["pulled"] += 1
                state["most"] = max(state["most"], state["pulled"] - state["handled"])
            yield i

    def handled(_: int) -> None:
        with lock:
            state["handled"] += 1

    engine.run(operator.neg, items(), handled)
    return state


def test_at_most_two_items_per_worker_are_in_flight():
    state = in_flight(ThreadEngine(3))
    assert state["handled"] == 60
    assert state["most"] <= 2 * 3 + 1  # the one being pulled when the window is full


def test_an_interrupt_starts_nothing_new_and_hands_on_what_was_running():
    first, ran, got = threading.Event(), [], []

    def work(i: int) -> int:
        ran.append(i)
        first.set()
        return i

    def items():
        yield from range(4)
        first.wait(5)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ThreadEngine(2).run(work, items(), got.append)
    assert ran and sorted(got) == sorted(ran)  # every item that ran was handed on; the rest never started


def test_unknown_engine():
    with pytest.raises(EngineError, match=r"unknown engine 'spark' \(use threads, processes"):
        make_engine("spark", 2)


def test_chunked():
    assert list(chunked(list(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


def _fails_on_three(i: int) -> int:
    if i == 3:
        raise ValueError("three")
    return -i


@pytest.mark.parametrize(
    "engine", [ThreadEngine(1), ThreadEngine(2), ProcessEngine(2)], ids=["serial", "threads", "processes"]
)
def test_an_item_that_raises_goes_to_on_error_or_stops_the_run(engine):
    got, errors = [], []
    engine.run(_fails_on_three, range(6), got.append, lambda item, exc: errors.append((item, str(exc))))
    assert sorted(got) == [-5, -4, -2, -1, 0] and errors == [(3, "three")]
    with pytest.raises(ValueError, match="three"):
        engine.run(_fails_on_three, range(6), got.append)


def test_scheduler_is_only_for_the_dask_engine():
    with pytest.raises(EngineError, match=r"^--scheduler is for --engine dask, not threads$"):
        make_engine("threads", 2, scheduler="tcp://127.0.0.1:8786")


def test_the_dask_engine_without_its_packages_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an environment without poolcli[dask] looks like
    with pytest.raises(EngineError, match=r"pip install 'poolcli\[dask\]'$"):
        make_engine("dask", 2)


# --- Dask, on a cluster of two in-process workers on 127.0.0.1 ---------------------------------------


@pytest.fixture
def dask_engine(dask_scheduler):
    from poolcli.engines import DaskEngine

    engine = DaskEngine(2, scheduler=dask_scheduler)
    yield engine
    engine.close()


def test_the_dask_engine_hands_on_every_result_and_errors(dask_engine):
    got, errors = [], []
    dask_engine.run(_fails_on_three, range(40), got.append, lambda item, exc: errors.append((item, str(exc))))
    assert sorted(got) == sorted(-i for i in range(40) if i != 3) and errors == [(3, "three")]
    assert dask_engine.remote and dask_engine.workers == 2


def test_the_dask_engine_keeps_twice_the_cluster_threads_in_flight(dask_engine):
    state = in_flight(dask_engine)
    assert state["handled"] == 60
    assert state["most"] <= 2 * 2 + 1  # two workers of one thread; plus the item being pulled


def test_the_dask_engine_takes_the_scheduler_from_dask_config(dask_scheduler):
    import dask

    from poolcli.engines import DaskEngine

    with dask.config.set({"scheduler-address": dask_scheduler}):  # what DASK_SCHEDULER_ADDRESS sets
        engine = DaskEngine(3)
    assert engine.remote and engine.scheduler == dask_scheduler


def test_an_interrupt_on_dask_cancels_what_has_not_started_and_hands_on_what_ran(dask_engine):
    got = []

    def items():
        yield from range(4)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dask_engine.run(operator.neg, items(), got.append)
    assert set(got) <= {0, -1, -2, -3}


@pytest.mark.slow
def test_a_local_cluster_listens_on_loopback_only_and_close_ends_its_processes(monkeypatch):
    import os

    pytest.importorskip("distributed", reason="dask engine tests need poolcli[dask]")
    import psutil

    from poolcli.engines import DaskEngine

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # another cluster's nanny may have set it here
    engine = DaskEngine(2)
    try:
        client = engine.start()
        pids = [os.getpid(), *client.run(os.getpid).values()]
        assert len(pids) == 3  # this process (scheduler and nannies) and two worker processes
        listening = {
            c.laddr for pid in pids for c in psutil.Process(pid).net_connections("inet") if c.status == "LISTEN"
        }
        assert listening and {address.ip for address in listening} == {"127.0.0.1"}
        assert 8787 not in {address.port for address in listening}  # no dashboard
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))  # Dask's default slows big images
        assert set(trim.values()) == {None}
    finally:
        engine.close()
    assert not [pid for pid in pids[1:] if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]

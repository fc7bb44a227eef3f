"""Engines: the same results from threads and processes, a bounded stream, and interrupts that lose nothing."""

from __future__ import annotations

import operator
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


def test_at_most_two_items_per_worker_are_in_flight():
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

    ThreadEngine(3).run(operator.neg, items(), handled)
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

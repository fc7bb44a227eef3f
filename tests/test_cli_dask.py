"""--engine dask through the command line: the same results as threads, on a local cluster and on one at an address;
a worker killed mid-run loses nothing; Ctrl-C stops every process cleanly and a re-run resumes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

import poolcli
from poolcli.paths import TEMP_SUFFIX

from .conftest import LOOPBACK_CLUSTER, poolcli_executable
from .files import GOOD, files_under, summary_counts

pytest.importorskip("distributed", reason="dask engine tests need poolcli[dask] (dask, distributed)")


def _records(report: Path) -> dict[str, dict]:
    return {r["input"]: {**r, "ms": None} for r in map(json.loads, report.read_text().splitlines())}


def _processes_marked(mark: str) -> list[int]:
    """Processes still running whose environment carries ``mark`` (children of a run inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _marked_env(**extra: str) -> tuple[str, dict[str, str]]:
    mark = f"poolcli-test-{uuid.uuid4().hex}"
    return mark, {**os.environ, "POOLCLI_TEST_RUN": mark, "PYTHONWARNINGS": "ignore", **extra}


def test_dask_on_a_cluster_at_an_address_matches_threads(invoke, tree, tmp_path, dask_scheduler):
    runs = {}
    for engine in ("threads", "dask"):
        out, report = tmp_path / engine, tmp_path / f"{engine}.jsonl"
        extra = ("--scheduler", dask_scheduler) if engine == "dask" else ()
        runs[engine] = invoke("max", tree, "-r", "-o", f"{out}/", "--format", "png", "--report", report,
                              "--engine", engine, *extra)  # fmt: skip
    threads, dask = runs["threads"], runs["dask"]
    assert threads.exit_code == dask.exit_code == 1
    assert files_under(tmp_path / "dask") == files_under(tmp_path / "threads") == set(GOOD.values())
    for name in GOOD.values():
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "threads" / name).read_bytes(), name
    shown = {e: sorted(r.stdout.replace(str(tmp_path / e), "OUT").splitlines()) for e, r in runs.items()}
    assert shown["dask"] == shown["threads"]
    assert summary_counts(dask.stderr) == summary_counts(threads.stderr)
    errors = {e: sorted(line for line in r.stderr.splitlines() if "error" in line) for e, r in runs.items()}
    assert errors["dask"] == errors["threads"]
    records = {e: _records(tmp_path / f"{e}.jsonl") for e in runs}
    for record in records["dask"].values():
        record["output"] = record["output"].replace(str(tmp_path / "dask"), str(tmp_path / "threads"))
    assert records["dask"] == records["threads"]
    # local paths on a cluster at an address: the run says that its workers must see them
    assert (
        f"poolcli: note: the dask scheduler at {dask_scheduler} runs this on its workers: they must see" in dask.stderr
    )


def test_a_local_cluster_from_the_command_line_gives_the_same_bytes_and_leaves_no_process(invoke, tree, tmp_path):
    reference = invoke("max", tree, "-o", f"{tmp_path}/threads/", "--format", "png", "-q")
    mark, env = _marked_env()
    cmd = [poolcli_executable(), "max", str(tree), "-o", f"{tmp_path}/dask/", "--format", "png", "--engine", "dask",
           "-j", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == reference.exit_code == 1
    lines = proc.stderr.splitlines()
    assert sorted(lines[:-1]) == sorted(reference.stderr.splitlines())  # the same errors, and nothing from Dask
    assert summary_counts(proc.stderr) == (len(GOOD) - 2, 0, 2)
    names = files_under(tmp_path / "threads")
    assert files_under(tmp_path / "dask") == names
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "threads" / name).read_bytes(), name
    assert _processes_marked(mark) == []  # scheduler and worker processes ended with the run


def test_dask_scheduler_address_in_the_environment_is_used(tree, tmp_path, dask_scheduler):
    _, env = _marked_env(DASK_SCHEDULER_ADDRESS=dask_scheduler)
    cmd = [poolcli_executable(), "max", str(tree / "a.png"), str(tree / "b.jpg"), "-o", f"{tmp_path}/out/",
           "--engine", "dask"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"the dask scheduler at {dask_scheduler} runs this on its workers" in proc.stderr
    assert files_under(tmp_path / "out") == {"a.max-k2-s2.png", "b.max-k2-s2.jpg"}


def test_without_the_dask_extra_the_engine_is_a_usage_error(invoke, tree, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = invoke("max", tree, "--engine", "dask")
    assert (result.exit_code, result.stderr) == (
        2,
        "poolcli: error: the dask engine needs Dask and distributed, which are not installed: "
        "pip install 'poolcli[dask]'\n",
    )
    result = invoke("max", tree, "--scheduler", "tcp://127.0.0.1:8786")
    assert (result.exit_code, result.stderr) == (2, "poolcli: error: --scheduler is for --engine dask, not threads\n")


def _photos(folder: Path, count: int, rng: np.random.Generator, size: tuple[int, int] = (900, 1200)) -> None:
    folder.mkdir()
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx // 3) % 256, (yy // 2) % 256, ((xx + yy) // 5) % 256], -1).astype(np.uint8)
    for i in range(count):
        cv2.imwrite(str(folder / f"p{i:02d}.jpg"), cv2.add(base, rng.integers(0, 40, base.shape, dtype=np.uint8)))


def _check_whole(src: Path, out: Path) -> None:
    for done in out.glob("*.png"):  # every output complete and right
        expected = poolcli.pool(poolcli.read_image(src / done.name.replace(".max-k2-s2.png", ".jpg")), "max", 2)
        np.testing.assert_array_equal(poolcli.read_image(done), expected, err_msg=done.name)


@pytest.mark.slow
def test_ctrl_c_on_a_local_cluster_stops_every_process_cleanly_and_a_rerun_resumes(
    invoke, tmp_path, rng, dask_scheduler
):
    src, out, count = tmp_path / "in", tmp_path / "out", 40
    _photos(src, count, rng)
    mark, env = _marked_env()
    cmd = [poolcli_executable(), "max", str(src), "-o", f"{out}/", "--format", "png", "--engine", "dask", "-j", "2"]
    # its own process group, as a shell gives a job; a terminal's Ctrl-C goes to the whole group
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (out.exists() and any(p.suffix == ".png" for p in out.iterdir())):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.endswith("poolcli: interrupted\n") and "Traceback" not in stderr, stderr
    # the summary and "interrupted" (after click's blank line, as with threads): nothing from any other process
    assert len([line for line in stderr.splitlines() if line]) == 2, stderr
    written, skipped, failed = summary_counts(stderr)
    done = sorted(p.name for p in out.iterdir())
    assert 1 <= written == len(done) < count and skipped == failed == 0
    _check_whole(src, out)
    deadline = time.monotonic() + 30
    while _processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_marked(mark) == []

    rerun = invoke("max", src, "-o", f"{out}/", "--format", "png", "--engine", "dask", "--scheduler", dask_scheduler)
    assert rerun.exit_code == 0, rerun.stderr
    assert summary_counts(rerun.stderr) == (count - written, written, 0)
    assert len(list(out.iterdir())) == count


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(invoke, tmp_path, rng):
    from distributed import Client, LocalCluster

    from poolcli import batch, report
    from poolcli.pipeline import Pooling
    from poolcli.spec import PoolSpec

    src, out, count = tmp_path / "in", tmp_path / "out", 30
    _photos(src, count, rng, size=(600, 800))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **LOOPBACK_CLUSTER)
    client = Client(cluster, set_as_default=False)
    outcome: dict = {}

    def run() -> None:
        reporter = report.Reporter(io.StringIO(), io.StringIO(), report=tmp_path / "run.jsonl")
        outcome["summary"] = batch.execute(
            [str(src)], Pooling(PoolSpec.make("max", 2)), reporter, outputs=batch.Outputs(f"{out}/", "png"),
            options=batch.RunOptions(engine="dask", scheduler=cluster.scheduler_address),
        )  # fmt: skip

    try:
        worker = threading.Thread(target=run)
        worker.start()
        pids, killed = client.run(os.getpid), None
        deadline = time.monotonic() + 240
        while killed is None:
            assert worker.is_alive() and time.monotonic() < deadline
            busy = [address for address, keys in client.processing().items() if keys]
            if out.exists() and any(out.iterdir()) and busy:
                killed = pids[busy[0]]
                os.kill(killed, signal.SIGKILL)  # mid-run, with a file on it
            time.sleep(0.01)
        worker.join(300)
        assert not worker.is_alive()
        assert killed not in client.run(os.getpid).values()  # the nanny started a new worker process
    finally:
        client.close()
        cluster.close()
    summary = outcome["summary"]
    # files whose worker died after writing them are found written when their task is run again: skipped, not
    # lost (a task holds up to four files)
    assert summary.written + summary.skipped == count and summary.failed == 0 and summary.skipped <= 4
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == [
        f"p{i:02d}.max-k2-s2.png" for i in range(count)
    ]
    _check_whole(src, out)
    records = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert sorted(r["input"] for r in records) == sorted(str(p) for p in src.iterdir())  # each input told once
    # a worker killed while writing leaves at most its temporary file, which the next run removes
    left = [p.name for p in out.iterdir() if p.suffix != ".png"]
    assert all(name.endswith(TEMP_SUFFIX) for name in left) and len(left) <= 1, left
    again = invoke("max", src, "-o", f"{out}/", "--format", "png")
    assert summary_counts(again.stderr) == (0, count, 0)
    assert ("removed 1 temporary file(s)" in again.stderr) == bool(left)
    assert not [p for p in out.iterdir() if p.suffix != ".png"]

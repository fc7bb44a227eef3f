"""Batch throughput: poolcli over a folder of 1080p JPEGs, against a serial loop and the I/O floor.

Generates ``--count`` 1920x1080 JPEGs (smooth colour fields plus noise, so
they compress like photos), then times, each ``--repeat`` times (median
reported), 2x2 max pooling of every image to a PNG of the pooled size:

* ``serial torch loop``: cv2.imread -> uint8 to float32 NCHW -> F.max_pool2d ->
  uint8 -> cv2.imwrite, one image after another (the obvious script).
* ``I/O floor``: read bytes, cv2.imdecode, take every other pixel, cv2.imencode
  PNG, write, on ``--jobs`` threads: what any tool must at least do.
* ``poolcli``: ``batch.execute`` with ``--jobs`` worker threads (the code
  behind ``poolcli max DIR -k 2 --format png -o OUT/ -j N``).
* ``poolcli, torch threads default``: the same, without setting torch to one
  intra-op thread per worker.
* ``poolcli, processes``: the same with ``--engine processes`` (worker
  processes started for the run, their start-up included); its outputs are
  checked to be byte-identical to the threads engine's.
* ``poolcli, dask``: the same with ``--engine dask`` (four files a task, its
  default) on a local cluster of ``--jobs`` worker processes (one thread each),
  started once before the rounds
  (``--scheduler ADDRESS``: the engine's own cost is its overhead); ``dask-cold``:
  the engine starting its own cluster for each run, as ``--engine dask`` alone
  does. The cluster's start-up and close are timed on their own, the scheduler's
  per-task overhead with no-op tasks (through the engine's window of twice the
  workers, and as one ``client.map`` of all), and outputs are checked to be
  byte-identical to the threads engine's. Worker processes' CPU time is not
  counted (they are not this process's finished children).
* ``poolcli CLI``: the installed command in a subprocess, start-up included.
* ``poolcli, cuda``: where CUDA exists, pooling on the GPU with 16 same-size
  images stacked per call, and (``cuda-b1``) one image per call.

Each variant's wall-clock rate and CPU time per image (this process and its
children) are printed; on a shared machine the CPU time is the steadier figure.

Run:  PYTHONPATH=. python benchmarks/batch_bench.py --count 200 --jobs 2 --repeat 3
      PYTHONPATH=. python benchmarks/batch_bench.py --only poolcli poolcli-processes poolcli-dask poolcli-dask-cold
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch


def make_images(folder: Path, count: int, size: tuple[int, int] = (1080, 1920)) -> list[Path]:
    rng = np.random.default_rng(7)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paths = []
    for i in range(count):
        a, b, c = rng.uniform(3, 15, 3)
        base = np.stack([(xx / a + i) % 256, (yy / b) % 256, ((xx + yy) / c) % 256], -1).astype(np.uint8)
        noisy = cv2.add(base, rng.integers(0, 24, base.shape, dtype=np.uint8))
        path = folder / f"img{i:04d}.jpg"
        cv2.imwrite(str(path), noisy, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def serial_torch_loop(paths: list[Path], out: Path) -> None:
    import torch.nn.functional as F

    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float()
        y = F.max_pool2d(x, 2).squeeze(0).permute(1, 2, 0).to(torch.uint8).numpy()
        cv2.imwrite(str(out / (p.stem + ".png")), y)


def _floor_one(p: Path, out: Path) -> None:
    img = cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[::2, ::2]))
    assert ok
    (out / (p.stem + ".png")).write_bytes(buf.tobytes())


def io_floor(paths: list[Path], out: Path, jobs: int) -> None:
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda p: _floor_one(p, out), paths))


def poolcli_batch(
    folder: Path, out: Path, jobs: int, torch_one_thread: bool = True, device: str = "cpu", batch_size: int | None = None,
    engine: str = "threads", scheduler: str | None = None,
) -> None:  # fmt: skip
    from poolcli import batch, engines, report
    from poolcli.pipeline import Pooling
    from poolcli.spec import PoolSpec

    reporter = report.Reporter(io.StringIO(), io.StringIO(), quiet=True)
    patch = contextlib.nullcontext()
    if not torch_one_thread:
        patch = _patched(batch, "make_engine", lambda name, workers, **kw: engines.make_engine(name, workers))
    with patch:
        summary = batch.execute(
            [str(folder)], Pooling(PoolSpec.make("max", 2)), reporter, outputs=batch.Outputs(f"{out}/", "png"),
            options=batch.RunOptions(jobs=jobs, batch_size=batch_size, engine=engine, scheduler=scheduler), device=device,
        )  # fmt: skip
    assert summary.written == len(list(folder.iterdir())) and not summary.failed, summary


@contextlib.contextmanager
def _patched(obj: object, name: str, value: object):
    before = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, before)


def same_bytes(folder: Path, scratch: Path, jobs: int, engine: str = "processes", scheduler: str | None = None) -> bool:
    """Whether ``engine`` and the threads engine write byte-identical outputs."""
    outs = {name: Path(tempfile.mkdtemp(dir=scratch)) for name in ("threads", engine)}
    for name, out in outs.items():
        poolcli_batch(folder, out, jobs, engine=name, scheduler=scheduler if name == "dask" else None)
    names = sorted(p.name for p in outs["threads"].iterdir())
    same = names == sorted(p.name for p in outs[engine].iterdir()) and all(
        (outs["threads"] / n).read_bytes() == (outs[engine] / n).read_bytes() for n in names
    )
    for out in outs.values():
        shutil.rmtree(out)
    return same


def _noop(x: int) -> int:
    return x


def dask_costs(jobs: int, repeat: int, tasks: int) -> dict[str, float]:
    """A local cluster's start-up and close (seconds), and the scheduler's cost per no-op task (ms), medians."""
    from poolcli.engines import DaskEngine

    start, close, window, mapped = [], [], [], []
    for _ in range(repeat):
        engine = DaskEngine(jobs)
        t0 = time.perf_counter()
        client = engine.start()
        client.wait_for_workers(jobs)
        start.append(time.perf_counter() - t0)
        client.submit(_noop, 0, pure=False).result()  # warm: functions and connections in place
        t0 = time.perf_counter()
        engine.run(_noop, range(tasks), lambda _: None)
        window.append((time.perf_counter() - t0) / tasks * 1000)
        t0 = time.perf_counter()
        futures = client.map(_noop, range(tasks), pure=False)
        client.gather(futures)
        mapped.append((time.perf_counter() - t0) / tasks * 1000)
        del futures
        t0 = time.perf_counter()
        engine.close()
        close.append(time.perf_counter() - t0)
    return {"start": statistics.median(start), "close": statistics.median(close),
            "window_ms": statistics.median(window), "map_ms": statistics.median(mapped)}  # fmt: skip


def poolcli_cli(folder: Path, out: Path, jobs: int) -> None:
    exe = Path(sys.executable).with_name("poolcli")
    cmd = [str(exe), "max", str(folder), "-k", "2", "--format", "png", "-o", f"{out}/", "-j", str(jobs), "-q"]
    subprocess.run(cmd, check=True)


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[Path], None], scratch: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run.

    On a shared machine the wall clock moves with everyone else's load; the
    CPU time a run needs barely does, and bounds its rate on idle cores.
    """
    out = Path(tempfile.mkdtemp(dir=scratch))
    cpu = _cpu_seconds()
    start = time.perf_counter()
    fn(out)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    shutil.rmtree(out)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="run only these (serial, floor, poolcli, ...)")
    parser.add_argument("--noop-tasks", type=int, default=2000, help="no-op tasks for the scheduler's overhead")
    args = parser.parse_args()
    warm = None  # a local Dask cluster, started once for the poolcli-dask rounds

    with tempfile.TemporaryDirectory(prefix="poolcli-batch-bench-") as tmp:
        scratch = Path(tmp)
        src = scratch / "in"
        src.mkdir()
        t0 = time.perf_counter()
        paths = make_images(src, args.count)
        print(f"{args.count} JPEGs 1920x1080 generated in {time.perf_counter() - t0:.1f} s; "
              f"jobs={args.jobs}, cores={os.cpu_count()}, torch {torch.__version__}, OpenCV {cv2.__version__}")  # fmt: skip
        variants: dict[str, Callable[[Path], None]] = {
            "serial": lambda out: serial_torch_loop(paths, out),
            "floor": lambda out: io_floor(paths, out, args.jobs),
            "poolcli": lambda out: poolcli_batch(src, out, args.jobs),
            "poolcli-torch-default": lambda out: poolcli_batch(src, out, args.jobs, torch_one_thread=False),
            "poolcli-processes": lambda out: poolcli_batch(src, out, args.jobs, engine="processes"),
            "poolcli-cli": lambda out: poolcli_cli(src, out, args.jobs),
        }
        if _has_dask():
            variants["poolcli-dask"] = lambda out: poolcli_batch(src, out, args.jobs, engine="dask", scheduler=address)
            variants["poolcli-dask-cold"] = lambda out: poolcli_batch(src, out, args.jobs, engine="dask")
        if torch.cuda.is_available():
            variants["poolcli-cuda"] = lambda out: poolcli_batch(src, out, args.jobs, device="cuda", batch_size=16)
            variants["poolcli-cuda-b1"] = lambda out: poolcli_batch(src, out, args.jobs, device="cuda", batch_size=1)
            for n in (2, 4, 8):
                variants[f"poolcli-cuda-b{n}"] = lambda out, n=n: poolcli_batch(
                    src, out, args.jobs, device="cuda", batch_size=n
                )
        chosen = {k: v for k, v in variants.items() if not args.only or k in args.only}
        sizes = [p.stat().st_size for p in paths]
        print(f"inputs: {statistics.mean(sizes) / 1024:.0f} KiB per image on average")
        address = None
        if "poolcli-dask" in chosen:
            from poolcli.engines import DaskEngine

            warm = DaskEngine(args.jobs)
            warm.start().wait_for_workers(args.jobs)
            address = warm.address
        times: dict[str, list[float]] = {name: [] for name in chosen}
        cpus: dict[str, list[float]] = {name: [] for name in chosen}
        # Interleaved rounds, so a change in the machine's load hits every variant alike.
        for _ in range(args.repeat):
            for name, fn in chosen.items():
                wall, cpu = timed(fn, scratch)
                times[name].append(wall)
                cpus[name].append(cpu)
        if "poolcli" in chosen:
            out = Path(tempfile.mkdtemp(dir=scratch))
            poolcli_batch(src, out, args.jobs)
            written = [p.stat().st_size for p in out.iterdir()]
            print(f"outputs: {statistics.mean(written) / 1024:.0f} KiB per image on average (PNG, 960x540)")
            shutil.rmtree(out)
        rates: dict[str, float] = {}
        cpu_ms: dict[str, float] = {}
        for name, ts in times.items():
            rates[name] = args.count / statistics.median(ts)
            cpu_ms[name] = statistics.median(cpus[name]) / args.count * 1000
            runs = ", ".join(f"{args.count / t:.1f}" for t in ts)
            print(
                f"{name:<24} {rates[name]:7.1f} img/s  {cpu_ms[name]:6.1f} CPU ms/img  (img/s of {args.repeat} rounds: {runs})"
            )
        if "poolcli-processes" in rates and "poolcli" in rates:
            print(
                f"processes / threads {rates['poolcli-processes'] / rates['poolcli']:.2f}x img/s; "
                f"outputs byte-identical: {same_bytes(src, scratch, args.jobs)}"
            )
        for name in ("poolcli-dask", "poolcli-dask-cold"):
            if name in rates and "poolcli" in rates:
                against = [f"{rates[name] / rates['poolcli']:.2f}x threads"]
                if "poolcli-processes" in rates:
                    against.append(f"{rates[name] / rates['poolcli-processes']:.2f}x processes")
                print(f"{name} / {', '.join(against)} (img/s, medians of interleaved rounds)")
        if "poolcli-dask" in rates:
            print(f"dask outputs byte-identical to threads: {same_bytes(src, scratch, args.jobs, 'dask', address)}")
        if warm is not None:
            warm.close()
        if "poolcli-dask" in chosen or "dask-costs" in (args.only or []):
            costs = dask_costs(args.jobs, args.repeat, args.noop_tasks)
            print(
                f"local cluster of {args.jobs} worker processes: start-up {costs['start']:.2f} s, close "
                f"{costs['close']:.2f} s; per no-op task {costs['window_ms']:.2f} ms through the engine (window of "
                f"{2 * args.jobs}), {costs['map_ms']:.2f} ms as one client.map of {args.noop_tasks} "
                f"(medians of {args.repeat})"
            )
        if "poolcli" in rates:
            for base in ("floor", "serial"):
                if base in rates:
                    print(
                        f"poolcli / {base:<8} {rates['poolcli'] / rates[base]:.2f}x img/s, "
                        f"{cpu_ms[base] / cpu_ms['poolcli']:.2f}x by CPU time per image"
                    )


def _has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()

"""Pool a batch of 1080p RGB uint8 frames on a CUDA GPU, with and without the copies, and on the CPU.

The batch is a (64, 3, 1080, 1920) uint8 tensor (NCHW, as a data loader
gives it). For each op it times:

* ``cuda + copies (pinned)``: host tensor in pinned memory -> GPU -> pool -> back
  into a pinned host tensor, all inside the timed region;
* ``cuda + copies (pageable)``: the same from and to ordinary host memory;
* ``cuda resident``: the batch already on the GPU, ``torch.cuda.synchronize``
  around each run;
* ``torch float32 (cuda)``: the obvious path on the GPU for comparison
  (uint8 -> float32 -> F.max_pool2d/avg_pool2d -> round -> uint8);
* ``cpu``: poolcli on the CPU, same batch.

Effective GB/s counts the bytes of the input read plus the output written,
divided by the time. On a GPU the card's peak memory bandwidth (from NVML,
where it can be read) and a measured device-to-device copy are printed for
scale. Every GPU result is checked to be identical to the CPU result.

    python benchmarks/bench_cuda.py                      # on a machine with a GPU (well under a minute)
    python benchmarks/bench_cuda.py --device cpu --quick # the CPU part only, a small batch
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

import poolcli


def median_ms(fn: Callable[[], object], rounds: int, sync: bool) -> float:
    fn()
    if sync:
        torch.cuda.synchronize()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def peak_bandwidth_gbs() -> float | None:
    """The card's peak memory bandwidth from NVML (2 transfers per memory clock), or None."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        clock_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
        bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
        return 2 * clock_mhz * 1e6 * bus_bits / 8 / 1e9
    except Exception:  # NVML missing or refusing: the measured copy still gives a scale
        return None


def torch_float_path(x: torch.Tensor, op: str, k: int, s: int) -> torch.Tensor:
    f = x.float()
    if op == "max":
        y = F.max_pool2d(f, k, s)
    elif op == "min":
        y = -F.max_pool2d(-f, k, s)
    else:
        y = F.avg_pool2d(f, k, s).round_()
    return y.to(torch.uint8)


class Rows:
    """Prints one row per way of running a case, with its frames/s and effective GB/s."""

    def __init__(self, batch: int, moved: int, peak: float | None) -> None:
        self.batch, self.moved, self.peak = batch, moved, peak

    def __call__(self, name: str, ms: float) -> None:
        gbs = self.moved / ms / 1e6
        line = f"  {name:<26}{ms:10.2f} ms {self.batch / ms * 1e3:9.0f} frames/s {gbs:8.1f} GB/s"
        if self.peak and "resident" in name:
            line += f"  ({gbs / self.peak:.0%} of peak)"
        print(line, flush=True)


def gpu_case(
    host: torch.Tensor,
    pinned: torch.Tensor,
    dev: torch.Tensor,
    op: str,
    k: int,
    s: int,
    rounds: int,
    row: Rows,
    expected: torch.Tensor,
) -> bool:
    """Time the GPU rows of one case; True when every GPU result equals ``expected``."""
    out_pinned = torch.empty(expected.shape, dtype=torch.uint8).pin_memory()

    def pinned_run() -> None:
        y = poolcli.pool(pinned.to("cuda", non_blocking=True), op, kernel=k, stride=s)
        out_pinned.copy_(y, non_blocking=True)

    def pageable_run() -> torch.Tensor:
        return poolcli.pool(host.to("cuda"), op, kernel=k, stride=s).cpu()

    def resident_run() -> torch.Tensor:
        return poolcli.pool(dev, op, kernel=k, stride=s)

    row("cuda + copies (pinned)", median_ms(pinned_run, rounds, sync=True))
    row("cuda + copies (pageable)", median_ms(pageable_run, rounds, sync=True))
    row("cuda resident", median_ms(resident_run, rounds, sync=True))
    row("torch float32 (cuda)", median_ms(lambda: torch_float_path(dev, op, k, s), rounds, sync=True))
    torch.cuda.synchronize()
    return all(torch.equal(y, expected) for y in (out_pinned, pageable_run(), resident_run().cpu()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: only the CPU rows")
    parser.add_argument("--batch", type=int, help="frames per batch (default 64, --quick 8)")
    parser.add_argument("--ops", default="max,avg,min")
    parser.add_argument("--kernels", default="2:2,3:2", help="k:s pairs")
    parser.add_argument("--rounds", type=int, help="timed runs per row (default 10 on a GPU, 3 on the CPU)")
    parser.add_argument("--quick", action="store_true", help="batch 8, fewer rounds")
    args = parser.parse_args(argv)

    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --device cpu")
    batch = args.batch or (8 if args.quick else 64)
    gpu_rounds = args.rounds or (3 if args.quick else 10)
    cpu_rounds = args.rounds or (2 if args.quick else 3)
    kernels = [tuple(int(v) for v in item.split(":")) for item in args.kernels.split(",")]

    gen = torch.Generator().manual_seed(0)
    host = torch.randint(0, 256, (batch, 3, 1080, 1920), dtype=torch.uint8, generator=gen)
    in_bytes = host.numel()
    print(f"torch {torch.__version__}, batch {tuple(host.shape)} uint8 = {in_bytes / 2**20:.0f} MiB")
    print(f"CPU threads {torch.get_num_threads()}")
    peak = None
    if on_gpu:
        props = torch.cuda.get_device_properties(0)
        print(f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs")
        peak = peak_bandwidth_gbs()
        dev = host.cuda()
        pinned = host.pin_memory()
        copy_ms = median_ms(lambda: dev.clone(), gpu_rounds, sync=True)
        print(f"peak memory bandwidth {peak:.0f} GB/s (NVML)" if peak else "peak memory bandwidth: NVML not readable")
        print(
            f"device-to-device copy of the batch {copy_ms:.3f} ms = {2 * in_bytes / copy_ms / 1e6:.0f} GB/s (read + write)"
        )
    print("rows: ms (median), frames/s, effective GB/s = (input + output bytes) / time")

    for op in args.ops.split(","):
        for k, s in kernels:
            print(f"\n{op} k={k} s={s}")
            expected = poolcli.pool(host, op, kernel=k, stride=s)
            row = Rows(batch, in_bytes + expected.numel(), peak)
            if on_gpu:
                same = gpu_case(host, pinned, dev, op, k, s, gpu_rounds, row, expected)
                print(f"  GPU results identical to the CPU's: {'yes' if same else 'NO'}")
                if not same:
                    sys.exit(1)
            row("cpu", median_ms(lambda: poolcli.pool(host, op, kernel=k, stride=s), cpu_rounds, sync=False))  # noqa: B023


if __name__ == "__main__":
    main()

"""Start-up: how long poolcli's commands take as whole processes, against importing what they need.

Times each command as a subprocess, in interleaved rounds (so a burst of load
elsewhere hits every command alike), and prints the median and the fastest
run. The pooling command is compared with ``python -c "import torch, cv2,
numpy"``: the difference is what poolcli itself adds (issue target: at most
0.15 s). A process that has imported torch spends about 0.4 s on its way out
(the exit's garbage collections walk torch's ~170,000 objects); poolcli
freezes them (``gc.freeze``) and skips that, so the same imports followed by ``gc.freeze()`` are timed too:
against them, the difference is poolcli's own work alone. ``--help``, ``--dry-run``, ``info`` and a usage error import no
torch at all (tests/test_entrypoint.py pins it).

Run:  python benchmarks/startup.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("poolcli"))
    with tempfile.TemporaryDirectory() as tmp:
        import cv2
        import numpy as np

        image = str(Path(tmp) / "small.png")
        cv2.imwrite(image, np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        out = str(Path(tmp) / "out.png")
        commands = {
            "python -c 'import torch, cv2, numpy'": [sys.executable, "-c", "import torch, cv2, numpy"],
            "the same, then gc.freeze()": [sys.executable, "-c", "import torch, cv2, numpy, gc; gc.freeze()"],
            "poolcli max small.png -o out.png": [exe, "max", image, "-o", out, "--overwrite", "-q"],
            "poolcli --help": [exe, "--help"],
            "poolcli max small.png --dry-run": [exe, "max", image, "--dry-run"],
            "poolcli info small.png": [exe, "info", image],
            "poolcli max small.png -k 0 (usage error)": [exe, "max", image, "-k", "0"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds + 1):  # the first round warms the caches and is not counted
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, capture_output=True, check=False)
                times[name].append(time.perf_counter() - start)
        print(f"median (fastest) of {args.rounds} interleaved rounds, seconds of wall time")
        for name, ts in times.items():
            counted = ts[1:]
            print(f"  {name:<44} {statistics.median(counted):6.3f} ({min(counted):.3f})")
        base = statistics.median(times["python -c 'import torch, cv2, numpy'"][1:])
        pooled = statistics.median(times["poolcli max small.png -o out.png"][1:])
        frozen = statistics.median(times["the same, then gc.freeze()"][1:])
        print(f"poolcli's own share of a pooling command: {pooled - base:+.3f} s (target: at most 0.15 s)")
        print(f"  against imports that skip the exit's garbage collection as poolcli does: {pooled - frozen:+.3f} s")


if __name__ == "__main__":
    main()

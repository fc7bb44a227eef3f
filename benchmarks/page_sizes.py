"""How large poolcli's pages are: ``explain`` pages and GIFs, and a ``--html`` run page for many images.

Usage::

    python benchmarks/page_sizes.py                      # explain pages, and a run page for 1,000 photos
    python benchmarks/page_sizes.py --count 1000 --noise # run page for 1,000 noise images (the worst case)
    python benchmarks/page_sizes.py --compare            # with --compare: a figure thumbnail per row too

The run's inputs are made in a temporary folder: 256x256 RGB crops of the
sample photographs at varied offsets (or uniform noise, which JPEG
thumbnails compress worst). The run is the installed ``poolcli`` command,
``poolcli max DIR -k 2 -o OUT/ --html run.html -q``; its peak memory is the
child process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import poolcli  # noqa: E402
from poolcli.explain import explain  # noqa: E402
from poolcli.explain_gif import render as render_gif  # noqa: E402
from poolcli.explain_html import render as render_page  # noqa: E402
from poolcli.spec import PoolSpec  # noqa: E402


def explain_sizes() -> list[tuple[str, int, int]]:
    """(case, page bytes, GIF bytes) for the pattern and for the largest region explain allows."""
    coffee = poolcli.read_image(ROOT / "sample_images" / "coffee.jpg")
    cases = [
        ("pattern, max k=3 s=2 p=1 (16 steps)", None, None, PoolSpec.make("max", kernel=3, stride=2, padding=1)),
        ("pattern, min k=2 d=2 ceil (16 steps)", None, None, PoolSpec.make("min", kernel=2, dilation=2, ceil_mode=True)),
        ("coffee.jpg 16x16 RGB region, max k=2 s=1 (225 steps)", coffee, (120, 200, 16, 16),
         PoolSpec.make("max", kernel=2, stride=1)),
    ]  # fmt: skip
    rows = []
    for name, image, region, spec in cases:
        e = explain(image, spec, region=region, source="coffee.jpg" if image is not None else None)
        rows.append((name, len(render_page(e).encode("utf-8")), len(render_gif(e))))
    return rows


def make_inputs(folder: Path, count: int, noise: bool) -> None:
    import cv2

    rng = np.random.default_rng(0)
    photos = [poolcli.read_image(ROOT / "sample_images" / n) for n in ("coffee.jpg", "chelsea.png")]
    for i in range(count):
        if noise:
            rgb = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        else:
            photo = photos[i % len(photos)]
            r = int(rng.integers(0, photo.shape[0] - 256))
            c = int(rng.integers(0, photo.shape[1] - 256))
            rgb = photo[r : r + 256, c : c + 256]
        cv2.imwrite(str(folder / f"img{i:04d}.png"), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))


def run_page(count: int, noise: bool, compare: bool) -> tuple[int, float, float, int]:
    """(page bytes, seconds, peak MiB of the run, rows) for a run over ``count`` images."""
    exe = shutil.which("poolcli") or str(Path(sys.executable).with_name("poolcli"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_inputs(folder, count, noise)
        page = Path(tmp) / "run.html"
        args = [exe, "max", str(folder), "-k", "2", "-o", f"{tmp}/out/", "--html", str(page), "-q"]
        if compare:
            args.append("--compare")
        start = time.perf_counter()
        subprocess.run(args, check=True)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        text = page.read_text(encoding="utf-8")
        return page.stat().st_size, seconds, peak, text.count('data-status="written"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="images in the run (default 1000)")
    parser.add_argument("--noise", action="store_true", help="noise images instead of photo crops")
    parser.add_argument("--compare", action="store_true", help="run with --compare (a figure thumbnail per row)")
    parser.add_argument("--skip-explain", action="store_true", help="measure only the run page")
    args = parser.parse_args()
    if not args.skip_explain:
        print("| explain | page | GIF |\n|---|---:|---:|")
        for name, page, gif in explain_sizes():
            print(f"| {name} | {page / 1024:.0f} KiB | {gif / 1024:.0f} KiB |")
        print()
    size, seconds, peak, rows = run_page(args.count, args.noise, args.compare)
    kind = ("noise" if args.noise else "photo crops") + (", --compare" if args.compare else "")
    print("| run page | images | rows written | page | per row | run time | peak memory of the run |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| 256x256 RGB {kind} | {args.count} | {rows} | {size / 2**20:.1f} MiB | {size / max(rows, 1) / 1024:.1f} KiB"
          f" | {seconds:.0f} s | {peak:.0f} MiB |")  # fmt: skip


if __name__ == "__main__":
    main()

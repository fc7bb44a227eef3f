"""Make the files the README's examples use: a small photo tree and a few odd and hostile files.

Run from the repository root: ``python docs/readme_files.py`` writes them under
``examples/`` (ignored by git), from the pictures in ``sample_images/``:

* ``examples/photos/``: ``coffee.jpg``, ``chelsea.png``, a smaller ``chelsea.jpg``, a text
  file ``notes.txt``, a broken ``broken.jpg``, and ``2024/camera.png``, ``2024/june/sunset``
  (a PNG without an extension) and a link ``2024/up -> ..`` (a loop, if followed);
* ``cut.jpg`` (a JPEG that stops half-way), ``damaged.jpg`` (two restart intervals lost in
  the middle), ``bomb.png`` (48 KB that would decode to 20000 x 20000), ``half.png`` (a PNG
  cut in its image data), ``notes.png`` (text named like a PNG), ``anim.gif`` (3 frames with
  transparency), ``deep.png`` (16-bit RGB) and ``logo.png`` (RGBA).

Existing files are left as they are, so running it twice is harmless.
"""

from __future__ import annotations

import re
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb() -> bytes:
    """A 1-bit 20000 x 20000 PNG of zeros: 48 KB on disk, 400 MB decoded."""
    row = b"\x00" * (1 + 20000 // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(20000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def encoded(ext: str, bgr: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    ok, buf = cv2.imencode(ext, bgr, list(params))
    assert ok, ext
    return buf.tobytes()


def damaged_jpeg() -> bytes:
    """A 128x160 JPEG with a restart marker every 4 MCUs, two intervals cut out of its middle."""
    rows, cols = np.mgrid[:128, :160]
    image = np.dstack([(rows * 2 + cols) % 256, (cols * 3) % 256, (rows * 5 + 40) % 256]).astype(np.uint8)
    data = encoded(".jpg", image, (cv2.IMWRITE_JPEG_RST_INTERVAL, 4))
    markers = [m.start() for m in re.finditer(rb"\xff[\xd0-\xd7]", data)]
    middle = len(markers) // 2
    return data[: markers[middle]] + data[markers[middle + 2] :]


def animated_gif() -> bytes:
    from io import BytesIO

    from PIL import Image

    frames = [Image.fromarray(np.full((10, 12, 3), 60 * (i + 1), np.uint8)) for i in range(3)]
    out = BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], transparency=0)
    return out.getvalue()


def files() -> dict[str, bytes]:
    coffee = (SAMPLES / "coffee.jpg").read_bytes()
    chelsea = cv2.imread(str(SAMPLES / "chelsea.png"), cv2.IMREAD_UNCHANGED)
    png = encoded(".png", cv2.imread(str(SAMPLES / "gradient.png")))
    rng = np.random.default_rng(5)
    return {
        "photos/coffee.jpg": coffee,
        "photos/chelsea.png": (SAMPLES / "chelsea.png").read_bytes(),
        "photos/chelsea.jpg": encoded(".jpg", cv2.resize(chelsea, (64, 64), interpolation=cv2.INTER_AREA)),
        "photos/notes.txt": b"shopping list: milk, eggs\n",
        "photos/broken.jpg": b"<html>not found</html>\n",
        "photos/2024/camera.png": (SAMPLES / "camera.png").read_bytes(),
        "photos/2024/june/sunset": png,
        "cut.jpg": coffee[: len(coffee) // 2],
        "damaged.jpg": damaged_jpeg(),
        "bomb.png": bomb(),
        "half.png": png[: len(png) // 2],
        "notes.png": b"shopping list: milk, eggs\n",
        "anim.gif": animated_gif(),
        "deep.png": encoded(".png", rng.integers(0, 65536, (40, 60, 3), dtype=np.uint16)),
        "logo.png": encoded(".png", rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)),
    }


def main(folder: str = "examples") -> None:
    root = Path(folder)
    made = 0
    for name, data in files().items():
        path = root / name
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        made += 1
    link = root / "photos" / "2024" / "up"
    if not link.is_symlink():
        link.symlink_to("..")
        made += 1
    print(f"{made} file(s) made under {root}/")


if __name__ == "__main__":
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        sys.exit("usage: python docs/readme_files.py [FOLDER]")
    main(*sys.argv[1:])

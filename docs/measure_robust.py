"""Measure what poolcli's input checks cost: the figures in docs/README-robust.md.

Run from the repository root: ``python docs/measure_robust.py``. It prints

* the time and peak-memory growth of refusing a header-only 20000x20000 PNG
  (82 bytes) and a real decompression bomb (48 KB that inflates to 20000x20000),
* the time of the structure checks (:func:`poolcli.sniff.probe`) next to
  OpenCV's decode for a 12-megapixel PNG and JPEG,
* the time of the libjpeg warning check
  (:func:`poolcli.image_io.jpeg_decoder_warnings`, a 1/8-scale gray decode
  through simplejpeg) next to OpenCV's decode, for a 12-megapixel and a
  1080p JPEG.
"""

from __future__ import annotations

import resource
import struct
import time
import zlib

import cv2
import numpy as np

from poolcli.errors import ImageTooLargeError
from poolcli.image_io import decode_image, jpeg_decoder_warnings
from poolcli.sniff import probe


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bilevel_png(width: int, height: int, rows: int) -> bytes:
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(row) for _ in range(rows)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


def best_of(runs: int, call) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def refuse(data: bytes) -> None:
    try:
        decode_image(data, name="bomb.png")
    except ImageTooLargeError:
        return
    raise AssertionError("not refused")


def main() -> None:
    decode_image(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())  # load OpenCV first
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data in (
        ("header-only 20000x20000 PNG", bilevel_png(20000, 20000, 1)),
        ("decompression bomb 20000x20000 PNG", bilevel_png(20000, 20000, 20000)),
    ):
        seconds = best_of(20, lambda data=data: refuse(data))
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
        print(f"{name} ({len(data):,} bytes): refused in {seconds * 1e3:.3f} ms, peak memory grew {grown:.1f} MB")

    rows, cols = np.mgrid[:3000, :4000]
    photo = np.dstack([(rows // 7 + cols // 5) % 256, (cols // 3) % 256, (rows // 2) % 256]).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 24, photo.shape, dtype=np.uint8)
    photo = photo + noise  # some texture, so the files are not trivially small
    for ext in (".png", ".jpg"):
        data = cv2.imencode(ext, photo)[1].tobytes()
        check = best_of(5, lambda data=data: probe(data))
        decode = best_of(5, lambda data=data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))
        print(
            f"12 MP {ext[1:].upper()} ({len(data) / 1e6:.1f} MB): structure check {check * 1e3:.1f} ms, "
            f"OpenCV decode {decode * 1e3:.1f} ms ({check / decode:.1%} of decoding)"
        )
    for name, (height, width) in (("12 MP", (3000, 4000)), ("1080p", (1080, 1920))):
        data = cv2.imencode(".jpg", photo[:height, :width])[1].tobytes()
        check = best_of(7, lambda data=data: jpeg_decoder_warnings(data))
        decode = best_of(7, lambda data=data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))
        print(
            f"{name} JPG ({len(data) / 1e6:.1f} MB): libjpeg warning check {check * 1e3:.1f} ms, "
            f"OpenCV decode {decode * 1e3:.1f} ms (+{check / decode:.0%})"
        )


if __name__ == "__main__":
    main()

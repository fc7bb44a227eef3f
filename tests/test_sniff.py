"""Reading structure from bytes: sizes, frames and damage, against files OpenCV and Pillow write."""

from __future__ import annotations

import io
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

import poolcli
from poolcli.errors import ImageTooLargeError
from poolcli.sniff import SNIFF_BYTES, Header, looks_like_image, probe, sniff_format

RGB = np.dstack(np.mgrid[:37, :41] % 256).astype(np.uint8)[..., [0, 1, 1]]


def cv(ext: str, image: np.ndarray = RGB, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def pil(fmt: str, image: Image.Image | None = None, **kw) -> bytes:
    out = io.BytesIO()
    (image or Image.fromarray(RGB)).save(out, fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (cv(".png"), "PNG"),
        (cv(".jpg"), "JPEG"),
        (pil("JPEG", progressive=True), "JPEG"),
        (pil("GIF"), "GIF"),
        (cv(".bmp"), "BMP"),
        (pil("BMP", Image.fromarray(RGB[..., 0]).convert("1")), "BMP"),
        (cv(".webp"), "WebP"),
        (pil("WEBP", lossless=True), "WebP"),
        (pil("WEBP", Image.fromarray(RGB).convert("RGBA")), "WebP"),
        (cv(".tiff"), "TIFF"),
        (pil("TIFF", compression="tiff_lzw"), "TIFF"),
        (cv(".ppm"), "PNM"),
        (cv(".pgm", RGB[..., 0]), "PNM"),
        (cv(".pbm", RGB[..., 0]), "PNM"),
        (cv(".pam"), "PNM"),
        (cv(".pfm", RGB.astype(np.float32)), "PNM"),
        (b"P5\n# made by hand\n41 37\n255\n" + bytes(37 * 41), "PNM"),
    ],
)
def test_size_of_every_format(data, fmt):
    header = probe(data)
    assert header == Header(fmt, 41, 37, frames=header.frames, sample=header.sample)
    assert header.frames == 1 and header.problem is None


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "TIFF", "WEBP"])
def test_frames_are_counted(fmt):
    frames = [Image.fromarray(np.full((5, 6, 3), 50 * i, np.uint8)) for i in range(4)]
    header = probe(pil(fmt, frames[0], save_all=True, append_images=frames[1:]))
    assert (header.width, header.height, header.frames) == (6, 5, 4)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"\x00" * 100, b"BM is not a bitmap", b"P5 is a paper size", b"RIFF\x00\x00\x00\x00WAVE"],
)
def test_what_is_not_read_here(data):
    assert sniff_format(data) is None
    assert probe(data) is None


def test_png_damage():
    data = cv(".png")
    assert probe(data[:-12]).problem == "the file ends before the IEND chunk"
    at = data.index(b"IDAT") + 10
    assert probe(data[:at] + b"\x00" + data[at + 1 :]).problem == "CRC error in the IDAT chunk"
    no_idat = data[:33] + data[data.index(b"IEND") - 4 :]
    assert probe(no_idat).problem == "no image data (IDAT chunk)"


def test_jpeg_damage():
    data = cv(".jpg")
    cut = probe(data[: len(data) - 100])
    assert (cut.problem, cut.truncated, cut.width, cut.height) == (
        "the image data stops before the end-of-image marker",
        True,
        41,
        37,
    )
    header_cut = probe(data[:40])
    assert header_cut.problem == "the file ends inside a header segment" and not header_cut.truncated
    after_app0 = 4 + struct.unpack(">H", data[4:6])[0]
    stray = data[:after_app0] + b"junk" + data[after_app0:]
    assert probe(stray).recoverable and probe(stray).problem == "4 stray bytes before a marker"


def test_jpeg_restart_intervals():
    data = cv(".jpg", np.zeros((64, 64, 3), np.uint8), cv2.IMWRITE_JPEG_RST_INTERVAL, 1)
    markers = [m.start() for m in re.finditer(rb"\xff[\xd0-\xd7]", data)]
    assert probe(data).problem is None
    lost = data[: markers[3]] + data[markers[6] :]
    header = probe(lost)
    assert header.recoverable and header.problem == "3 restart interval(s) lost or damaged in the image data"
    swapped = bytearray(data)
    swapped[markers[2] + 1], swapped[markers[3] + 1] = swapped[markers[3] + 1], swapped[markers[2] + 1]
    assert probe(bytes(swapped)).problem == "restart markers out of sequence from number 2"


def test_tiff_sample_format_is_read():
    assert probe(cv(".tiff", RGB.astype(np.float32))).sample == "float32"
    assert probe(cv(".tiff", RGB.astype(np.uint16))).sample == "uint16"


def test_png_declared_size_needs_no_pixel_data():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    header = probe(b"\x89PNG\r\n\x1a\n" + chunk)
    assert (header.width, header.height, header.pixels) == (100_000, 100_000, 10**10)


def test_a_long_pnm_comment_is_no_trap():
    data = b"P5\n#" + b" x" * 2_000_000
    assert probe(data) is None  # no digits within the first kilobyte: not taken for a PNM


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp", ".bmp", ".ppm", ".pgm"])
def test_image_formats_are_recognised_by_their_first_bytes(ext, rng):
    image = rng.integers(0, 256, (8, 8) if ext == ".pgm" else (8, 8, 3), dtype=np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok
    assert looks_like_image(data.tobytes()[:SNIFF_BYTES])


@pytest.mark.parametrize(
    "head", [b"", b"hello world", b"BM but not a bitmap header", b"%PDF-1.7", b"P1ano", b"RIFF\0\0\0\0WAVE"]
)
def test_other_bytes_are_not_images(head):
    assert not looks_like_image(head)


def test_the_bomb_is_real(bomb):
    """Without the cap the same bytes decode to 20000 x 20000 (checked on the header, to spare 400 MB)."""
    from poolcli.sniff import probe

    header = probe(bomb)
    assert (header.width, header.height, header.problem) == (20000, 20000, None)
    assert len(bomb) < 60_000
    # inflate the pixel data in 1 MB steps: 20000 rows of a filter byte and 2500 bytes
    inflater, data, total = zlib.decompressobj(), bomb[bomb.index(b"IDAT") + 4 :], 0
    while data and not inflater.eof:
        total += len(inflater.decompress(data, 1 << 20))
        data = inflater.unconsumed_tail
    assert total == 20000 * 2501
    with pytest.raises(ImageTooLargeError) as info:
        poolcli.decode_image(bomb, name="bomb.png")
    assert (info.value.width, info.value.height, info.value.limit) == (
        20000,
        20000,
        poolcli.image_io.DEFAULT_MAX_PIXELS,
    )

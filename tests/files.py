"""Files and helpers the tests share: odd and hostile images made in memory, figure readers, run counters."""

from __future__ import annotations

import faulthandler
import re
import struct
import zlib
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from hypothesis import strategies as st
from PIL import Image

import poolcli
from poolcli.errors import (
    PoolcliError,
)
from poolcli.image_io import decode_image

from .conftest import encode, pil_bytes, write_rgb


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bilevel_png(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A 1-bit gray PNG of zeros declaring ``width`` x ``height``; ``rows`` limits the data really there."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")


def photo(shape: tuple[int, ...] = (96, 128, 3)) -> np.ndarray:
    """Smooth RGB content (JPEG-friendly), different in every corner."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    planes = [(rows * 2 + cols) % 256, (cols * 3) % 256, (rows * 5 + 40) % 256][: shape[2] if len(shape) == 3 else 1]
    return np.dstack(planes).astype(np.uint8) if len(shape) == 3 else planes[0].astype(np.uint8)


def restart_jpeg() -> bytes:
    """A JPEG with a restart marker every 4 MCUs (so a decoder can recover from damage)."""
    return encode(".jpg", photo((128, 160, 3)), (cv2.IMWRITE_JPEG_RST_INTERVAL, 4))


def made(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def _png() -> bytes:
    return encode(".png", photo())


def _jpeg() -> bytes:
    return encode(".jpg", photo())


def _symlink_loop(d: Path) -> Path:
    (d / "a.png").symlink_to(d / "b.png")
    (d / "b.png").symlink_to(d / "a.png")
    return d / "a.png"


def _crc_damage(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 20
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# The library states the facts; the command line adds the flag that helps.
TRUNCATED_JPEG = "corrupt or truncated: the image data stops before the end-of-image marker"


TOO_LARGE = "image too large: 20000x20000 = 400,000,000 pixels, over the limit of 89,478,485 pixels"


CLI_HINT = {
    TRUNCATED_JPEG: " (--allow-truncated decodes the part that is there)",
    TOO_LARGE: " (raise it with --max-pixels; 0 = no limit)",
}


FAILURES = [
    # (catalogue item, make the input in folder d, reason after "poolcli: error: <path>: ")
    ("1-missing", lambda d: d / "missing.png", "not found"),
    ("2-empty", lambda d: made(d / "empty.png", b""), "empty file"),
    ("3-text", lambda d: made(d / "notes.png", b"shopping list: milk, eggs\n"), "not a recognised image format"),
    ("3-html", lambda d: made(d / "page.jpg", b"<!doctype html><title>404</title>"), "not a recognised image format"),
    ("5-dangling", lambda d: (d / "gone.png").symlink_to(d / "nowhere.png") or d / "gone.png", "dangling symbolic link"),
    ("5-loop", _symlink_loop, "symbolic link loop"),
    ("7-png-half", lambda d: made(d / "half.png", _png()[: len(_png()) // 2]), "corrupt or truncated: the IDAT chunk is cut short"),
    ("7-png-no-iend", lambda d: made(d / "cut.png", _png()[:-12]), "corrupt or truncated: the file ends before the IEND chunk"),
    ("7-png-crc", lambda d: made(d / "crc.png", _crc_damage(_png())), "corrupt or truncated: CRC error in the IDAT chunk"),
    ("8-jpeg-half", lambda d: made(d / "half.jpg", _jpeg()[: len(_jpeg()) // 2]), TRUNCATED_JPEG),
    ("8-jpeg-no-eoi", lambda d: made(d / "noeoi.jpg", _jpeg()[:-2]), TRUNCATED_JPEG),
    ("10-header-only", lambda d: made(d / "huge.png", bilevel_png(20000, 20000, rows=1)), TOO_LARGE),
    ("11-bomb", lambda d: made(d / "bomb.png", bilevel_png(20000, 20000)), TOO_LARGE),
    ("19-1x5", lambda d: write_rgb(d / "thin.png", np.zeros((1, 5), np.uint8)), "image 1x5 is smaller than the kernel 2x2"),
    ("19-1x1", lambda d: write_rgb(d / "dot.png", np.zeros((1, 1, 3), np.uint8)), "image 1x1 is smaller than the kernel 2x2"),
]  # fmt: skip


def damaged_in_the_middle() -> bytes:
    """Two restart intervals of scan data lost from the middle, as a bad transfer loses them."""
    data = restart_jpeg()
    markers = [m.start() for m in re.finditer(rb"\xff[\xd0-\xd7]", data)]
    middle = len(markers) // 2
    return data[: markers[middle]] + data[markers[middle + 2] :]


def tiff_with_samples(array: np.ndarray, sample_format: int) -> bytes:
    """A minimal uncompressed one-channel TIFF (OpenCV cannot write every sample format)."""
    height, width = array.shape
    data = array.astype(array.dtype.newbyteorder("<")).tobytes()
    entries = [(256, width), (257, height), (258, array.itemsize * 8), (259, 1), (262, 1), (273, 8),
               (277, 1), (278, height), (279, len(data)), (339, sample_format)]  # fmt: skip
    ifd = struct.pack("<H", len(entries))
    for tag, value in entries:
        ifd += struct.pack("<HHII", tag, 4, 1, value)
    return b"II*\x00" + struct.pack("<I", 8 + len(data)) + data + ifd + b"\x00" * 4


def alpha_inputs(d: Path) -> dict[str, Path]:
    gray = photo((12, 16))
    alpha = np.where(np.arange(16) < 8, 0, 255).astype(np.uint8)[None, :].repeat(12, 0)
    rgb = np.dstack([gray, gray, gray])
    palette = Image.fromarray(rgb).quantize(8)
    hole = palette.getpixel((0, 0))
    return {
        "rgba.png": made(d / "rgba.png", encode(".png", np.dstack([rgb, alpha]))),
        "la.png": made(
            d / "la.png", pil_bytes(Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)]), "PNG")
        ),
        "palette.png": made(d / "palette.png", pil_bytes(palette, "PNG", transparency=hole)),
        "alpha.gif": made(d / "alpha.gif", pil_bytes(palette, "GIF", transparency=hole)),
    }


def frames() -> list[Image.Image]:
    return [Image.fromarray(np.full((10, 12, 3), 40 * (i + 1), np.uint8)) for i in range(3)]


TAG = "max-k2-s2"


SUMMARY = (
    r"poolcli: (interrupted: )?(\d+) written, (\d+) skipped \(exist\), (\d+) failed in \d+\.\d s, \d+(\.\d+)? img/s"
)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def summary_counts(stderr: str) -> tuple[int, int, int]:
    match = re.search(SUMMARY, stderr)
    assert match, stderr
    return int(match.group(2)), int(match.group(3)), int(match.group(4))


GOOD = {
    "a.png": "a.max-k2-s2.png",
    "b.jpg": "b.max-k2-s2.png",
    "c.tif": "c.max-k2-s2.png",
    "d.webp": "d.max-k2-s2.png",
    "e.bmp": "e.max-k2-s2.png",
    "dup.jpg": "dup.jpg.max-k2-s2.png",  # a.jpg and a.png would collide: each keeps its extension
    "dup.png": "dup.png.max-k2-s2.png",
    "renamed.dat": "renamed.max-k2-s2.png",
    "sub/c.png": "sub/c.max-k2-s2.png",
    "sub/deeper/f.png": "sub/deeper/f.max-k2-s2.png",
}


BAD = {
    "fake.jpg": "not a recognised image format",
    "truncated.png": "corrupt or truncated: the file ends before the IEND chunk",
}


RED = np.array([255, 0, 0], np.uint8)


def read_figure(path: Path) -> np.ndarray:
    figure = poolcli.read_image(path)
    assert figure.ndim == 3 and figure.shape[2] == 3, figure.shape  # opaque RGB
    return figure


def blobs(mask: np.ndarray, smallest: int = 200) -> list[int]:
    """Areas of the connected regions of ``mask``, largest first; specks of anti-aliased text are left out."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    return sorted((int(a) for a in stats[1:, cv2.CC_STAT_AREA] if a >= smallest), reverse=True)


def panels_of(fig) -> list:
    return [ax for ax in fig.axes if ax.get_gid() == "panel"]


def panel_centres(fig, png: bytes) -> list[np.ndarray]:
    """The figure pixel at the centre of each panel, in the order the panels were added."""
    image = poolcli.decode_image(png)
    height = image.shape[0]
    out = []
    for ax in panels_of(fig):
        box = ax.get_window_extent()
        out.append(image[int(height - (box.y0 + box.y1) / 2), int((box.x0 + box.x1) / 2)])
    return out


LIMIT = 1_000_000  # pixels: damaged headers may not make the suite allocate much


@contextmanager
def watchdog(seconds: int = 60):
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@cache
def seeds() -> dict[str, bytes]:
    """One small real file per format and variant that poolcli reads."""
    rows, cols = np.mgrid[:24, :32]
    rgb = np.dstack([(rows * 9) % 256, (cols * 7) % 256, (rows + cols) % 256]).astype(np.uint8)

    def cv(ext: str, image: np.ndarray, *params: int) -> bytes:
        return encode(ext, image, params)

    pil = pil_bytes
    frames = [Image.fromarray(np.roll(rgb, i, axis=1)) for i in range(3)]
    return {
        "rgb.png": cv(".png", rgb),
        "gray16.png": cv(".png", (rgb[..., 0].astype(np.uint16) * 257)),
        "rgba.png": cv(".png", np.dstack([rgb, rgb[..., :1]])),
        "apng.png": pil(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "plain.jpg": cv(".jpg", rgb),
        "restart.jpg": cv(".jpg", rgb, cv2.IMWRITE_JPEG_RST_INTERVAL, 1),
        "progressive.jpg": pil(frames[0], "JPEG", progressive=True),
        "cmyk.jpg": pil(frames[0].convert("CMYK"), "JPEG"),
        "anim.gif": pil(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "rgb.bmp": cv(".bmp", rgb),
        "float.tif": cv(".tiff", rgb.astype(np.float32) / 255),
        "pages.tif": pil(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "lossy.webp": cv(".webp", rgb),
        "lossless.webp": pil(frames[0], "WEBP", lossless=True),
        "rgb.ppm": cv(".ppm", rgb),
        "gray16.pgm": cv(".pgm", rgb[..., 0].astype(np.uint16) * 200),
    }


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real file cut, bit-flipped, with bytes inserted, deleted or zeroed (often in the header)."""
    name = draw(st.sampled_from(sorted(seeds())))
    data = bytearray(seeds()[name])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.one_of(st.integers(0, min(80, len(data) - 1)), st.integers(0, len(data) - 1)))
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "zero"]))
        if kind == "cut":
            del data[at:]
        elif kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=24))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        else:
            size = draw(st.integers(1, 64))
            data[at : at + size] = bytes(len(data[at : at + size]))
    return name, bytes(data)


MAGICS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"II*\x00",
    b"MM\x00*",
    b"P5\n",
]


random_files = st.tuples(st.sampled_from(MAGICS), st.binary(max_size=3000)).map(lambda t: ("random.bin", t[0] + t[1]))


def check(data: bytes, name: str, **options) -> None:
    """The one property: an image array, or a PoolcliError naming the file."""
    with watchdog():
        try:
            image = decode_image(data, name=name, max_pixels=LIMIT, **options)
        except PoolcliError as exc:
            assert str(exc).startswith(f"{name}: ")
            return
    assert isinstance(image, np.ndarray)
    assert image.ndim in (2, 3) and image.size > 0
    assert image.ndim == 2 or image.shape[2] in (3, 4)

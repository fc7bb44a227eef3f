"""The robustness catalogue (issue 5): every odd or hostile file gets a clear answer.

Tests are numbered like the catalogue. Every file is made here, read through
real OpenCV, and run through the CLI (CliRunner for exact messages, the
installed ``poolcli`` in a subprocess where the OS has to take part: users,
resource limits, file names).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import poolcli
from poolcli.errors import ImageReadError, ImageTooLargeError
from poolcli.image_io import load_image, read_image

from .conftest import encode, pil_bytes, poolcli_executable, write_rgb
from .test_image_io import jpeg_with_orientation, png_with_orientation

# --- files made by the tests --------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bilevel_png(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A 1-bit gray PNG of zeros declaring ``width`` x ``height``; ``rows`` limits the data really there."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A real decompression bomb: about 48 KB that decodes to 20000 x 20000 (400 MB as uint8)."""
    return bilevel_png(20000, 20000)


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


# --- 1-11, 19: one table of inputs that fail, with the exact message ------------------------------


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


TRUNCATED_JPEG = (
    "corrupt or truncated: the image data stops before the end-of-image marker "
    "(--allow-truncated decodes the part that is there)"
)
TOO_LARGE = (
    "image too large: 20000x20000 (400,000,000 pixels, limit 89,478,485; raise it with --max-pixels, 0 = no limit)"
)

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
    ("19-1x5", lambda d: write_rgb(d / "thin.png", np.zeros((1, 5), np.uint8)), "image 1x5 is smaller than the kernel 2x2 (use --padding or --ceil)"),
    ("19-1x1", lambda d: write_rgb(d / "dot.png", np.zeros((1, 1, 3), np.uint8)), "image 1x1 is smaller than the kernel 2x2 (use --padding or --ceil)"),
]  # fmt: skip


@pytest.mark.parametrize(("item", "setup", "reason"), FAILURES, ids=[f[0] for f in FAILURES])
def test_failures_are_one_line_exit_1_and_write_nothing(invoke, tmp_path, item, setup, reason):
    path = setup(tmp_path)
    before = outputs(tmp_path)
    result = invoke("max", path, "--device", "cpu")
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {path}: {reason}\n"
    assert result.stdout == ""
    assert outputs(tmp_path) == before


@pytest.mark.parametrize(("item", "setup", "reason"), FAILURES[:-2], ids=[f[0] for f in FAILURES[:-2]])
def test_failures_raise_image_read_error_from_the_library(tmp_path, item, setup, reason):
    path = setup(tmp_path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: {reason}"


def test_04_a_directory_named_like_an_image(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(ImageReadError, match=r"x\.png: is a directory$"):
        read_image(tmp_path / "x.png")


def test_05_symlink_loop_answers_at_once_in_a_real_process(run_poolcli, tmp_path):
    path = _symlink_loop(tmp_path)
    proc = run_poolcli("max", path, "--device", "cpu")  # the fixture times out at 120 s
    assert (proc.returncode, proc.stderr) == (1, f"poolcli: error: {path}: symbolic link loop\n")


# --- 6: permission denied, as a user the file shuts out -----------------------------------------------


# As root every file is readable, so the CLI runs as nobody. The interpreter lives
# under /root, which nobody cannot enter: the child loads everything first, then
# gives up root and runs the same click command in the same process.
AS_NOBODY = """
import importlib, os, pkgutil, sys
import cv2, numpy, torch
import poolcli
# load every module first: after the switch to nobody, a checkout under a private folder is unreadable
for module in pkgutil.iter_modules(poolcli.__path__):
    importlib.import_module("poolcli." + module.name)
from poolcli.cli import cli
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
cli.main(sys.argv[1:], prog_name="poolcli")
"""


def test_06_permission_denied_comes_from_the_os(run_poolcli):
    folder = Path(tempfile.mkdtemp(prefix="poolcli-perm-"))  # world-traversable, unlike pytest's tmp_path
    try:
        folder.chmod(0o777)
        secret = write_rgb(folder / "secret.png", photo())
        secret.chmod(0o000)
        args = ["max", str(secret), "--device", "cpu"]
        if os.geteuid() == 0:
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
            proc = subprocess.run(
                [sys.executable, "-c", AS_NOBODY, *args], capture_output=True, text=True, env=env, timeout=120
            )
        else:
            proc = run_poolcli(*args)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr == f"poolcli: error: {secret}: permission denied\n"
        assert sorted(p.name for p in folder.iterdir()) == ["secret.png"]
    finally:
        shutil.rmtree(folder)


# --- 8, 9: JPEG truncation and recovered damage ------------------------------------------------------


def test_08_truncated_jpeg_is_an_error_and_allow_truncated_a_warning(invoke, tmp_path):
    path = made(tmp_path / "half.jpg", _jpeg()[: len(_jpeg()) // 2])
    assert invoke("max", path, "--device", "cpu").exit_code == 1
    result = invoke("max", path, "--device", "cpu", "--allow-truncated")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"poolcli: warning: {path}: truncated JPEG: the image data stops before the end-of-image marker; "
        "decoded what is there, missing rows are grey\n"
    )
    out = read_image(tmp_path / "half.max-k2-s2.jpg")
    assert out.shape == (48, 64, 3)
    # the top half is the picture, the bottom half the decoder's grey
    full = poolcli.pool(read_image(made(tmp_path / "full.jpg", _jpeg())), "max")
    assert np.abs(out[:8].astype(int) - full[:8]).mean() < 8
    assert np.abs(out[-8:].astype(int) - 128).max() <= 2


def test_08_missing_end_marker_only(invoke, tmp_path):
    path = made(tmp_path / "noeoi.jpg", _jpeg()[:-2])
    result = invoke("avg", path, "--device", "cpu", "--allow-truncated")
    assert result.exit_code == 0
    whole = read_image(made(tmp_path / "whole.jpg", _jpeg()))
    np.testing.assert_array_equal(read_image(path, allow_truncated=True), whole)  # nothing was really missing


def damaged_in_the_middle() -> bytes:
    """Two restart intervals of scan data lost from the middle, as a bad transfer loses them."""
    data = restart_jpeg()
    markers = [m.start() for m in re.finditer(rb"\xff[\xd0-\xd7]", data)]
    middle = len(markers) // 2
    return data[: markers[middle]] + data[markers[middle + 2] :]


def test_09_recovered_jpeg_damage_is_a_warning_and_strict_an_error(invoke, tmp_path):
    path = made(tmp_path / "damaged.jpg", damaged_in_the_middle())
    # OpenCV really decodes it: the damage is only reported because poolcli looked
    assert cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR) is not None
    result = invoke("max", path, "--device", "cpu")
    assert result.exit_code == 0
    warning = (
        f"{path}: corrupt JPEG data: 2 restart interval(s) lost or damaged in the image data; "
        "the decoder recovered, some pixels may be wrong"
    )
    assert result.stderr == f"poolcli: warning: {warning}\n"
    assert (tmp_path / "damaged.max-k2-s2.jpg").exists()
    assert load_image(path).warnings == (warning.split(": ", 1)[1],)
    strict = invoke("max", path, "--device", "cpu", "--strict", "--overwrite")
    assert strict.exit_code == 1
    assert strict.stderr == f"poolcli: error: {warning} (an error with --strict)\n"


def test_09_warning_reaches_stderr_of_the_installed_command(run_poolcli, tmp_path):
    path = made(tmp_path / "damaged.jpg", damaged_in_the_middle())
    proc = run_poolcli("global", path, "--device", "cpu")
    assert proc.returncode == 0
    assert f"poolcli: warning: {path}: corrupt JPEG data: " in proc.stderr
    assert proc.stdout.startswith(f"{path}: global avg: R=")


# --- 10, 11: size caps from the header --------------------------------------------------------------


SIZED = [
    # every format whose header poolcli reads: a real 37x41 file and --max-pixels below its size
    (".png", lambda im: encode(".png", im)),
    (".jpg", lambda im: encode(".jpg", im)),
    (".bmp", lambda im: encode(".bmp", im)),
    (".tif", lambda im: encode(".tiff", im)),
    (".webp", lambda im: encode(".webp", im)),
    (".ppm", lambda im: encode(".ppm", im)),
    (".gif", lambda im: pil_bytes(Image.fromarray(im), "GIF")),
]


@pytest.mark.parametrize(("ext", "make"), SIZED, ids=[s[0] for s in SIZED])
def test_10_every_parsed_header_is_held_to_max_pixels(invoke, tmp_path, ext, make):
    path = made(tmp_path / f"small{ext}", make(photo((37, 41, 3))))
    result = invoke("max", path, "--device", "cpu", "--max-pixels", "1000")
    assert result.exit_code == 1
    assert result.stderr == (
        f"poolcli: error: {path}: image too large: 41x37 (1,517 pixels, limit 1,000; "
        "raise it with --max-pixels, 0 = no limit)\n"
    )
    assert invoke("max", path, "--device", "cpu", "--max-pixels", "1517").exit_code == 0


def test_10_11_refused_without_allocating(tmp_path, bomb):
    """The peak memory of reading a bomb stays near that of reading nothing."""
    made(tmp_path / "bomb.png", bomb)
    made(tmp_path / "header.png", bilevel_png(20000, 20000, rows=1))
    code = (
        "import resource, sys\n"
        "from poolcli.image_io import read_image\n"
        "from poolcli.errors import ImageTooLargeError\n"
        "read_image(sys.argv[1])\n"  # import OpenCV and warm up on a small file first
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for name in sys.argv[2:]:\n"
        "    try:\n"
        "        read_image(name)\n"
        "    except ImageTooLargeError:\n"
        "        pass\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    small = write_rgb(tmp_path / "small.png", photo())
    proc = subprocess.run(
        [sys.executable, "-c", code, small, tmp_path / "bomb.png", tmp_path / "header.png"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    grown_mb = int(proc.stdout)
    assert grown_mb < 20  # decoding would take 400 MB


def test_11_the_bomb_is_real(bomb):
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


def test_10_a_format_poolcli_does_not_size_falls_back_to_opencvs_cap(run_poolcli, tmp_path, monkeypatch):
    """Sun raster is sized by OpenCV only: --max-pixels sets OPENCV_IO_MAX_IMAGE_PIXELS before OpenCV loads."""
    path = made(tmp_path / "old.ras", encode(".ras", photo((20, 20, 3))))
    monkeypatch.delenv("OPENCV_IO_MAX_IMAGE_PIXELS", raising=False)
    proc = run_poolcli("info", path, "--max-pixels", "100")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"poolcli: error: {path}: image too large: over OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS=100, "
        "read once when OpenCV is imported; set it in the environment to raise it)\n"
    )
    assert run_poolcli("info", path, "--max-pixels", "400").returncode == 0
    # a user's own setting wins over --max-pixels
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "50")
    proc = run_poolcli("info", path, "--max-pixels", "400")
    assert proc.returncode == 1
    assert "OPENCV_IO_MAX_IMAGE_PIXELS=50," in proc.stderr


def test_10_max_pixels_zero_is_no_limit(tmp_path):
    path = made(tmp_path / "wide.png", bilevel_png(3000, 40))
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=100_000)
    assert read_image(path, max_pixels=0).shape == (40, 3000)


# --- 12: out of memory, or any OpenCV error, fails one file only ---------------------------------------


def test_12_out_of_memory_while_decoding_fails_that_file_only(tmp_path, bomb):
    made(tmp_path / "bomb.png", bomb)
    fine = write_rgb(tmp_path / "fine.png", photo((8, 8, 3)))
    limit = 700 << 20  # room for Python and OpenCV, not for a 400 MB picture

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    # OpenBLAS reserves memory per core at import; on a many-core machine that alone passes the cap
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [poolcli_executable(), "info", str(tmp_path / "bomb.png"), str(fine), "--max-pixels", "0"],
        capture_output=True, text=True, timeout=120, env=env, preexec_fn=cap_memory,
    )  # fmt: skip
    assert proc.returncode == 1
    assert (
        proc.stderr == f"poolcli: error: {tmp_path / 'bomb.png'}: out of memory while decoding the 20000x20000 image\n"
    )
    assert proc.stdout.startswith(f"{fine}\n  size      8x8 (rows x cols)")  # the batch went on


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (cv2.error("OpenCV(5.0.0) grfmt_png.cpp:1: error: (-2:Unspecified error) broken stream"), "cannot decode: OpenCV(5.0.0) grfmt_png.cpp:1: error: (-2:Unspecified error) broken stream"),
        (MemoryError(), "out of memory while decoding the 128x96 image"),
    ],
)  # fmt: skip
def test_12_any_decoder_exception_is_reported_and_the_batch_continues(invoke, tmp_path, monkeypatch, raised, reason):
    first = write_rgb(tmp_path / "a.png", photo())
    second = write_rgb(tmp_path / "b.png", photo())
    real = cv2.imdecode
    calls = []

    def flaky(buf, flags):
        calls.append(1)
        if len(calls) == 1:
            raise raised
        return real(buf, flags)

    monkeypatch.setattr(cv2, "imdecode", flaky)
    result = invoke("max", first, second, "-o", f"{tmp_path}/out/", "--device", "cpu", "-q", "-j", "1")
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {first}: {reason}\n"
    assert outputs(tmp_path / "out") == ["b.max-k2-s2.png"]


# --- 13, 14: deep and float samples ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(26, 33), (26, 33, 3)], ids=["gray16", "rgb16"])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_13_sixteen_bit_png_pooled_and_written_at_full_precision(invoke, tmp_path, rng, shape, op):
    deep = rng.integers(0, 65536, shape, dtype=np.uint16)
    path = write_rgb(tmp_path / "deep.png", deep)
    assert invoke(op, path, "--device", "cpu").exit_code == 0
    out = read_image(tmp_path / f"deep.{op}-k2-s2.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, poolcli.pool(deep, op))
    assert (out % 256 != 0).any() and out.max() > 255  # not 8-bit data shifted up


def test_14_float32_tiff_pooled_and_written_as_float_tiff(invoke, tmp_path, rng):
    image = rng.normal(0, 1, (20, 24, 3)).astype(np.float32)
    path = made(tmp_path / "f.tif", encode(".tiff", image))
    assert invoke("avg", path, "--device", "cpu").exit_code == 0
    out = read_image(tmp_path / "f.avg-k2-s2.tif")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, poolcli.pool(image, "avg"))


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


def test_14_a_sample_format_opencv_cannot_read_is_named(invoke, tmp_path):
    path = made(tmp_path / "half.tif", tiff_with_samples(np.ones((4, 6), np.float16), 3))
    result = invoke("max", path, "--device", "cpu")
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {path}: unsupported sample format float16 (OpenCV cannot decode it)\n"
    ok = made(tmp_path / "single.tif", tiff_with_samples(np.arange(24, dtype=np.float32).reshape(4, 6), 3))
    np.testing.assert_array_equal(read_image(ok), np.arange(24, dtype=np.float32).reshape(4, 6))


# --- 15: one alpha policy ---------------------------------------------------------------------------


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


def test_15_every_transparent_input_becomes_rgba(invoke, tmp_path):
    for name, path in alpha_inputs(tmp_path).items():
        image = read_image(path)
        assert image.shape == (12, 16, 4), name
        assert image.dtype == np.uint8
        assert set(np.unique(image[..., 3])) <= {0, 255} and image[..., 3].min() == 0, name
        assert read_image(path, "rgb").shape == (12, 16, 3), name
        assert invoke("max", path, "-o", f"{tmp_path}/out/", "--format", "png", "--device", "cpu").exit_code == 0
        assert read_image(tmp_path / "out" / f"{path.stem}.max-k2-s2.png").shape == (6, 8, 4), name
    la = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(la[..., 0], photo((12, 16)))  # gray spread to R, G and B
    np.testing.assert_array_equal(la[..., 0], la[..., 2])


# --- 16: EXIF orientation in every colour mode ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["jpg", "png"])
@pytest.mark.parametrize("color", ["auto", "unchanged", "rgb", "gray"])
def test_16_orientation_six_applied_in_every_mode(invoke, tmp_path, kind, color):
    stored_bgr = np.zeros((8, 16, 3), np.uint8)
    stored_bgr[:4, :8] = (0, 0, 255)
    stored_bgr[4:, 8:] = (255, 255, 255)
    make = jpeg_with_orientation if kind == "jpg" else png_with_orientation
    path = made(tmp_path / f"turned.{kind}", make(stored_bgr, 6))
    result = invoke("max", path, "--color", color, "--device", "cpu", "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.stderr
    out = read_image(tmp_path / "out.png")
    assert out.shape[:2] == (8, 4)  # 16x8 displayed, pooled by 2
    light = out.astype(float) if out.ndim == 2 else out.astype(float).mean(axis=2)
    # turned a quarter clockwise: stored top left (red) at the top right, bottom right (white) at the bottom left
    assert 40 < light[0, -1] < 120
    assert light[-1, 0] > 230
    assert light[0, 0] < 30
    kept = invoke("max", path, "--color", color, "--device", "cpu", "--ignore-orientation", "-o", tmp_path / "k.png")
    assert kept.exit_code == 0
    assert read_image(tmp_path / "k.png").shape[:2] == (4, 8)


# --- 17: CMYK JPEG ---------------------------------------------------------------------------------------


def test_17_cmyk_jpeg_reads_as_rgb(invoke, tmp_path):
    rgb = photo((32, 48, 3))
    path = made(tmp_path / "print.jpg", pil_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95))
    assert Image.open(path).mode == "CMYK"
    image = read_image(path)
    assert image.shape == (32, 48, 3)
    expected = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert np.abs(image.astype(int) - expected).mean() < 3
    assert invoke("avg", path, "--device", "cpu").exit_code == 0
    assert read_image(tmp_path / "print.avg-k2-s2.jpg").shape == (16, 24, 3)


# --- 18: several frames ---------------------------------------------------------------------------------


def frames() -> list[Image.Image]:
    return [Image.fromarray(np.full((10, 12, 3), 40 * (i + 1), np.uint8)) for i in range(3)]


MULTI = [
    ("anim.gif", "GIF"),
    ("anim.png", "PNG"),
    ("pages.tif", "TIFF"),
    ("anim.webp", "WEBP"),
]


@pytest.mark.parametrize(("name", "fmt"), MULTI)
def test_18_first_frame_with_a_warning(invoke, tmp_path, name, fmt):
    first, *rest = frames()
    path = made(tmp_path / name, pil_bytes(first, fmt, save_all=True, append_images=rest))
    loaded = load_image(path)
    assert (loaded.frames, loaded.warnings) == (3, ("3 frames, used the first",))
    assert int(np.median(loaded.image[..., :3])) == 40  # the first frame's grey
    result = invoke("max", path, "--device", "cpu", "-o", tmp_path / "out.png")
    assert result.exit_code == 0
    assert result.stderr == f"poolcli: warning: {path}: 3 frames, used the first\n"
    strict = invoke("max", path, "--device", "cpu", "-o", tmp_path / "strict.png", "--strict")
    assert strict.exit_code == 1
    assert strict.stderr == f"poolcli: error: {path}: 3 frames, used the first (an error with --strict)\n"
    assert not (tmp_path / "strict.png").exists()


def test_18_single_frames_give_no_warning(tmp_path):
    first = frames()[0]
    for fmt, ext in (("GIF", "gif"), ("PNG", "png"), ("TIFF", "tif")):
        assert load_image(made(tmp_path / f"one.{ext}", pil_bytes(first, fmt))).warnings == ()


# --- 20-22: paths ------------------------------------------------------------------------------------------


def test_20_spaces_and_non_ascii_names(run_poolcli, tmp_path):
    (tmp_path / "fotos").mkdir()
    source = tmp_path / "fotos" / "사진 1.png"
    poolcli.write_image(source, photo())
    proc = run_poolcli("max", source, "--device", "cpu", "-o", f"{tmp_path / 'résultats été'}/")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "résultats été" / "사진 1.max-k2-s2.png"
    np.testing.assert_array_equal(read_image(out), poolcli.pool(photo(), "max"))
    proc = run_poolcli("avg", "사진 1.png", "--device", "cpu", cwd=tmp_path / "fotos")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fotos" / "사진 1.avg-k2-s2.png").exists()


USAGE = [
    # (item, extra arguments, reason); {d} is the folder, {f} the input
    ("21-file-as-folder", ["-o", "{d}/plain.txt/out.png"], "{d}/plain.txt: is a file, but a folder is needed here"),
    ("21-file-as-folder-dir", ["-o", "{d}/plain.txt/"], "{d}/plain.txt/: is a file, but a folder is needed here"),
    ("22-unknown-ext", ["-o", "{d}/out.xyz"], "{d}/out.xyz: unknown output format '.xyz' (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    ("22-no-ext", ["-o", "{d}/out"], "{d}/out: no file extension, so no output format (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    ("22-bad-format", ["--format", "gif"], "unknown output format 'gif' (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    ("25-same-path", ["-o", "{f}"], "{f}: output is the input file itself; refusing to overwrite an input"),
    ("25-dot-slash", ["-o", "{d}/./photo.png"], "{d}/photo.png: output is the input file itself; refusing to overwrite an input"),
    ("25-hard-link", ["-o", "{d}/hard.png"], "{d}/hard.png: output is the input file itself; refusing to overwrite an input"),
    ("25-symlink", ["-o", "{d}/soft.png"], "{d}/soft.png: output is the input file itself; refusing to overwrite an input"),
]  # fmt: skip


@pytest.mark.parametrize(("item", "args", "reason"), USAGE, ids=[u[0] for u in USAGE])
def test_21_22_25_bad_outputs_are_usage_errors_before_any_work(invoke, tmp_path, item, args, reason):
    source = write_rgb(tmp_path / "photo.png", photo())
    (tmp_path / "plain.txt").write_text("a file, not a folder")
    os.link(source, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(source)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fill = {"d": str(tmp_path), "f": str(source)}
    result = invoke("max", source, "--device", "cpu", "--overwrite", *[a.format(**fill) for a in args])
    assert result.exit_code == 2
    assert result.stderr == f"poolcli: error: {reason.format(**fill)}\n"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_25_relative_dot_path_in_a_real_process(run_poolcli, tmp_path):
    write_rgb(tmp_path / "photo.png", photo())
    proc = run_poolcli("max", "photo.png", "-o", "./photo.png", "--overwrite", "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "poolcli: error: photo.png: output is the input file itself; refusing to overwrite an input\n"


def test_21_missing_output_folders_are_created(invoke, tmp_path):
    source = write_rgb(tmp_path / "photo.png", photo())
    assert invoke("max", source, "--device", "cpu", "-o", tmp_path / "a" / "b" / "c.png").exit_code == 0
    assert read_image(tmp_path / "a" / "b" / "c.png").shape == (48, 64, 3)


# --- 23: data the output format cannot hold ------------------------------------------------------------


def test_23_sixteen_bit_to_jpeg_is_refused_before_pooling_or_converted_on_request(invoke, tmp_path, rng):
    deep = rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    path = write_rgb(tmp_path / "deep.png", deep)
    result = invoke("max", path, "--device", "cpu", "--format", "jpg")
    target = tmp_path / "deep.max-k2-s2.jpg"
    assert result.exit_code == 1
    assert result.stderr == (
        f"poolcli: error: {target}: JPEG cannot hold uint16 samples without losing them; use .png, .ppm, .tif, .tiff\n"
    )
    assert not target.exists()
    assert invoke("max", path, "--device", "cpu", "--format", "png", "--depth", "8").exit_code == 0
    expected = np.rint(poolcli.pool(deep, "max") / 257).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.max-k2-s2.png"), expected)


def test_23_float_to_eight_bit_on_request(invoke, tmp_path):
    image = np.linspace(-0.5, 1.5, 4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    path = made(tmp_path / "f.tif", encode(".tiff", image))
    assert invoke("max", path, "--device", "cpu", "--format", "jpg").exit_code == 1
    assert invoke("max", path, "--device", "cpu", "--format", "png", "--depth", "8").exit_code == 0
    expected = np.rint(np.clip(poolcli.pool(image, "max"), 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "f.max-k2-s2.png"), expected)
    assert (
        invoke("max", path, "--device", "cpu", "--format", "png", "--depth", "16", "-o", tmp_path / "f16.png").exit_code
        == 0
    )
    assert read_image(tmp_path / "f16.png").max() == 65535


def test_23_alpha_to_jpeg_is_refused_or_flattened(invoke, tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 2:, 3] = 255  # left half transparent
    path = made(tmp_path / "a.png", encode(".png", rgba))
    result = invoke("max", path, "--device", "cpu", "-o", tmp_path / "a.jpg")
    assert result.exit_code == 1
    assert result.stderr.endswith("JPEG cannot hold RGBA (alpha) images; use .bmp, .png, .tif, .tiff, .webp\n")
    assert invoke("max", path, "--device", "cpu", "-o", tmp_path / "w.png", "--flatten").exit_code == 0
    np.testing.assert_array_equal(read_image(tmp_path / "w.png"), [[[255, 255, 255], [200, 0, 0]]] * 2)
    assert invoke("max", path, "--device", "cpu", "-o", tmp_path / "b.png", "--background", "#000080").exit_code == 0
    np.testing.assert_array_equal(read_image(tmp_path / "b.png"), [[[0, 0, 128], [200, 0, 0]]] * 2)
    assert invoke("max", path, "--device", "cpu", "-o", tmp_path / "f.jpg", "--flatten").exit_code == 0
    assert read_image(tmp_path / "f.jpg").shape == (2, 2, 3)


def test_23_bad_background_is_a_usage_error(invoke, rgba_png):
    result = invoke("max", rgba_png, "--background", "mauve")
    assert result.exit_code == 2
    assert "expected white, black, gray, #RRGGBB or R,G,B with 0..255, got 'mauve'" in result.stderr


# --- 24: a write that fails midway ------------------------------------------------------------------------


def test_24_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, rng):
    source = write_rgb(tmp_path / "photo.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    target = poolcli.write_image(tmp_path / "out" / "small.png", np.zeros((2, 2), np.uint8))
    old = target.read_bytes()
    limit = 1024  # the old output fits, the new one (a 32x32 noise PNG, ~3 KB) does not

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [poolcli_executable(), "max", str(source), "-o", str(target), "--overwrite", "--device", "cpu"],
        capture_output=True, text=True, timeout=120, env=env, preexec_fn=small_files,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == f"poolcli: error: {target}: write failed: File too large\n"
    assert target.read_bytes() == old
    assert sorted(p.name for p in target.parent.iterdir()) == ["small.png"]


@pytest.mark.parametrize("dtype", ["float64", "int16", "int32", "int8"])
def test_14_other_tiff_sample_formats_round_trip(invoke, tmp_path, rng, dtype):
    image = (rng.normal(0, 50, (12, 10))).astype(dtype)
    path = poolcli.write_image(tmp_path / "s.tif", image)
    np.testing.assert_array_equal(read_image(path), image)
    assert invoke("max", path, "--device", "cpu").exit_code == 0
    out = read_image(tmp_path / "s.max-k2-s2.tif")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, poolcli.pool(image, "max"))


def png_with_chunk(kind: bytes, body: bytes, image: np.ndarray) -> bytes:
    """A real PNG from OpenCV with one more chunk after IHDR."""
    data = encode(".png", image)
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:33] + chunk + data[33:]


# issue 9 item 38
def test_libpng_warnings_are_libpngs_own_and_poolcli_stays_one_line_per_problem(run_poolcli, tmp_path):
    image = np.arange(48, dtype=np.uint8).reshape(6, 8)
    noted = tmp_path / "noted.png"  # an ICC profile chunk too short to hold a profile: libpng warns, decodes
    noted.write_bytes(png_with_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"x" * 200), image))
    proc = run_poolcli("max", noted, "--device", "cpu")
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1
    theirs = proc.stderr.splitlines()
    assert theirs and all(line.startswith("libpng warning: ") for line in theirs), proc.stderr
    np.testing.assert_array_equal(read_image(tmp_path / "noted.max-k2-s2.png"), poolcli.pool(image, "max"))
    broken = tmp_path / "broken.png"
    data = bytearray(noted.read_bytes())
    data[-20] ^= 0xFF  # a CRC error: poolcli's check refuses it before libpng sees it
    broken.write_bytes(bytes(data))
    proc = run_poolcli("max", noted, broken, "-o", f"{tmp_path}/out/", "--device", "cpu")
    ours = [line for line in proc.stderr.splitlines() if line.startswith("poolcli:")]
    assert proc.returncode == 1
    assert ours[:-1] == [f"poolcli: error: {broken}: corrupt or truncated: CRC error in the IDAT chunk"]
    assert all(line.startswith("libpng warning: ") for line in proc.stderr.splitlines() if line not in ours)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "`libpng warning: ...`" in readme and "png_create_read_struct(..., 0, 0, 0)" in readme

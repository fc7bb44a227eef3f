"""Reading and writing real files through OpenCV."""

from __future__ import annotations

import io
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import poolcli
from poolcli import image_io
from poolcli.errors import (
    FormatError,
    ImageReadError,
    ImageTooLargeError,
    OutputExistsError,
    OutputPathError,
    StrictError,
)
from poolcli.image_io import apply_orientation, decode_image, load_image, read_image, write_image
from poolcli.paths import TEMP_SUFFIX
from poolcli.sniff import probe, tiff_orientation

from .conftest import encode, pil_bytes, poolcli_executable, write_rgb
from .files import FAILURES, bilevel_png, check, damaged, frames, photo, random_files, seeds


def test_rgb_order_is_kept(tmp_path):
    red = np.zeros((4, 5, 3), np.uint8)
    red[..., 0] = 255
    path = write_rgb(tmp_path / "red.png", red)
    assert cv2.imread(str(path))[0, 0].tolist() == [0, 0, 255]  # OpenCV's BGR on disk...
    assert read_image(path)[0, 0].tolist() == [255, 0, 0]  # ...RGB out of poolcli
    out = write_image(tmp_path / "red2.png", read_image(path))
    assert cv2.imread(str(out))[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("color", ["auto", "unchanged"])
def test_auto_keeps_alpha_and_depth(tmp_path, rng, color):
    rgba = rng.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    np.testing.assert_array_equal(read_image(write_rgb(tmp_path / "a.png", rgba), color), rgba)
    np.testing.assert_array_equal(read_image(write_rgb(tmp_path / "d.png", deep), color), deep)


def test_gray_and_rgb_modes(tmp_path, rng):
    deep = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    path = write_rgb(tmp_path / "d.png", deep)
    gray = read_image(path, "gray")
    assert gray.shape == (6, 7) and gray.dtype == np.uint16
    rgba = write_rgb(tmp_path / "a.png", rng.integers(0, 256, (6, 7, 4), dtype=np.uint8))
    assert read_image(rgba, "rgb").shape == (6, 7, 3)
    gray8 = write_rgb(tmp_path / "g.png", rng.integers(0, 256, (6, 7), dtype=np.uint8))
    assert read_image(gray8).shape == (6, 7)
    assert read_image(gray8, "rgb").shape == (6, 7, 3)


def test_float_tiff_round_trip(tmp_path, rng):
    image = rng.normal(0, 1, (9, 8, 3)).astype(np.float32)
    path = write_image(tmp_path / "f.tif", image)
    back = read_image(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)


def test_non_ascii_and_spaces(tmp_path, rng):
    image = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    path = write_image(tmp_path / "fotos" / "사진 1.png", image)
    np.testing.assert_array_equal(read_image(path), image)


@pytest.mark.parametrize(
    ("name", "image", "match"),
    [
        ("x.jpg", np.zeros((4, 4), np.uint16), r"JPEG cannot hold uint16 samples without losing them; use .pgm, .png, .tif, .tiff"),
        ("x.jpg", np.zeros((4, 4, 4), np.uint8), r"JPEG cannot hold RGBA \(alpha\) images; use .bmp, .png, .tif, .tiff, .webp"),
        ("x.png", np.zeros((4, 4), np.float32), r"PNG cannot hold float32 samples without losing them; use .tif, .tiff"),
    ],
)  # fmt: skip
def test_format_refuses_what_it_cannot_hold(tmp_path, name, image, match):
    with pytest.raises(FormatError, match=match):
        write_image(tmp_path / name, image)
    assert not (tmp_path / name).exists()


def test_write_never_replaces_without_overwrite(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        write_image(target, np.zeros((2, 2), np.uint8))
    assert target.read_bytes() == b"old"
    write_image(target, np.zeros((2, 2), np.uint8), overwrite=True)
    assert read_image(target).shape == (2, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary file left


def test_failed_encode_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    monkeypatch.setattr(cv2, "imencode", lambda *a, **k: (False, None))
    with pytest.raises(poolcli.WriteError, match="cannot encode"):
        write_image(target, np.zeros((2, 2), np.uint8), overwrite=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_output_that_is_a_directory(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputPathError, match="is a directory"):
        write_image(tmp_path / "d.png", np.zeros((2, 2), np.uint8), overwrite=True)


def made(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda d: d / "missing.png", "not found"),
        (lambda d: made(d / "empty.png", b""), "empty file"),
        (lambda d: made(d / "text.png", b"hello"), "not a recognised image format"),
        (lambda d: (d / "dir.png").mkdir() or d / "dir.png", "is a directory"),
        (lambda d: (d / "link.png").symlink_to(d / "nowhere.png") or d / "link.png", "dangling symbolic link"),
    ],
)
def test_read_errors_name_the_file(tmp_path, setup, reason):
    path = setup(tmp_path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: {reason}"


# --- EXIF orientation ---------------------------------------------------------------------------


def exif_block(orientation: int) -> bytes:
    """A big-endian TIFF header with one IFD entry: Orientation."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    return b"MM\x00*" + struct.pack(">I", 8) + ifd


def jpeg_with_orientation(image_bgr: np.ndarray, orientation: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    data = buf.tobytes()
    payload = b"Exif\x00\x00" + exif_block(orientation)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def png_with_orientation(image_bgr: np.ndarray, orientation: int) -> bytes:

    ok, buf = cv2.imencode(".png", image_bgr)
    assert ok
    data = buf.tobytes()
    body = exif_block(orientation)
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


@pytest.fixture
def asymmetric_bgr() -> np.ndarray:
    """An 8x16 picture whose corners differ, in blocks big enough to survive JPEG."""
    image = np.zeros((8, 16, 3), np.uint8)
    image[:4, :8] = (0, 0, 255)
    image[:4, 8:] = (0, 255, 0)
    image[4:, :8] = (255, 0, 0)
    image[4:, 8:] = (255, 255, 255)
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_opencv_colour_mode(tmp_path, asymmetric_bgr, orientation):
    path = tmp_path / "o.jpg"
    path.write_bytes(jpeg_with_orientation(asymmetric_bgr, orientation))
    assert probe(path.read_bytes()).orientation == orientation  # read once, with the structure
    opencv = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for color in ("auto", "unchanged", "rgb"):
        np.testing.assert_array_equal(read_image(path, color), opencv)
    gray = read_image(path, "gray")
    assert gray.shape == opencv.shape[:2]


def test_orientation_six_in_png_and_ignore(tmp_path, asymmetric_bgr):
    path = tmp_path / "o.png"
    path.write_bytes(png_with_orientation(asymmetric_bgr, 6))
    rotated = read_image(path)
    assert rotated.shape == (16, 8, 3)
    stored = cv2.cvtColor(asymmetric_bgr, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rotated, np.rot90(stored, -1))  # 90 degrees clockwise
    np.testing.assert_array_equal(read_image(path, ignore_orientation=True), stored)


def test_apply_orientation_inverts_its_transforms():
    image = np.arange(6).reshape(2, 3)
    assert apply_orientation(image, 1) is image
    np.testing.assert_array_equal(apply_orientation(image, 6), np.rot90(image, -1))
    np.testing.assert_array_equal(apply_orientation(image, 8), np.rot90(image, 1))
    np.testing.assert_array_equal(apply_orientation(image, 3), np.rot90(image, 2))


@pytest.mark.parametrize(
    "junk", [b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n\x00\x00", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00\xff\xff\xff\xff"]
)
def test_orientation_parser_survives_junk(junk):
    header = probe(junk)
    assert header is None or header.orientation == 1
    assert tiff_orientation(junk) == 1


@pytest.mark.parametrize(("item", "setup", "reason"), FAILURES[:-2], ids=[f[0] for f in FAILURES[:-2]])
def test_failures_raise_image_read_error_from_the_library(tmp_path, item, setup, reason):
    path = setup(tmp_path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: {reason}"


def test_a_directory_named_like_an_image(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(ImageReadError, match=r"x\.png: is a directory$"):
        read_image(tmp_path / "x.png")


def test_refused_without_allocating(tmp_path, bomb):
    """The peak memory of reading a bomb stays near that of reading nothing."""
    made(tmp_path / "bomb.png", bomb)
    made(tmp_path / "header.png", bilevel_png(20000, 20000, rows=1))
    code = (
        "import sys\n"
        "from poolcli.image_io import read_image\n"
        "from poolcli.errors import ImageTooLargeError\n"
        "def peak():  # this process's own (VmHWM); ru_maxrss carries the forking parent's over exec\n"
        "    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
        "read_image(sys.argv[1])\n"  # import OpenCV and warm up on a small file first
        "before = peak()\n"
        "for name in sys.argv[2:]:\n"
        "    try:\n"
        "        read_image(name)\n"
        "    except ImageTooLargeError:\n"
        "        pass\n"
        "print((peak() - before) // 1024)\n"
    )
    small = write_rgb(tmp_path / "small.png", photo())
    proc = subprocess.run(
        [sys.executable, "-c", code, small, tmp_path / "bomb.png", tmp_path / "header.png"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    grown_mb = int(proc.stdout)
    assert grown_mb < 20  # decoding would take 400 MB


def test_max_pixels_zero_is_no_limit(tmp_path):
    path = made(tmp_path / "wide.png", bilevel_png(3000, 40))
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=100_000)
    assert read_image(path, max_pixels=0).shape == (40, 3000)


def test_single_frames_give_no_warning(tmp_path):
    first = frames()[0]
    for fmt, ext in (("GIF", "gif"), ("PNG", "png"), ("TIFF", "tif")):
        assert load_image(made(tmp_path / f"one.{ext}", pil_bytes(first, fmt))).warnings == ()


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, rng):
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


@settings(max_examples=250, deadline=None)
@given(
    case=st.one_of(damaged(), random_files),
    color=st.sampled_from(["auto", "gray", "rgb"]),
    strict=st.booleans(),
    allow_truncated=st.booleans(),
)
def test_read_gives_an_image_or_a_poolcli_error(case, color, strict, allow_truncated):
    name, data = case
    check(data, name, color=color, strict=strict, allow_truncated=allow_truncated)


def test_every_seed_reads_cleanly():
    """The undamaged seeds are good images, so the fuzzing starts from real files."""
    for name, data in seeds().items():
        image = decode_image(data, name=name)
        assert image.shape[:2] == (24, 32), name


# issue 9 item 6
def test_long_output_names_get_short_temporary_files(tmp_path, monkeypatch):
    seen: list[list[str]] = []
    real_fsync = os.fsync

    def fsync(fd):  # the temporary file is in the folder while its data is synced
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    name = "a" * 251 + ".png"  # 255 bytes, the longest name ext4 takes
    written = write_image(tmp_path / name, np.zeros((2, 2), np.uint8))
    assert written == tmp_path / name and read_image(written).shape == (2, 2)
    (temporary,) = seen[0]
    assert re.fullmatch(r"\.pc[0-9a-f]{4}-\d+-[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX), temporary), temporary
    assert [p.name for p in tmp_path.iterdir()] == [name]


# issue 9 item 6
@pytest.mark.parametrize(
    ("name", "size"), [("a" * 252 + ".png", 256), ("é" * 126 + ".png", 256), ("b" * 300 + ".tif", 304)]
)
def test_a_name_over_name_max_is_a_write_error_for_that_file(tmp_path, name, size):
    target = tmp_path / name
    with pytest.raises(poolcli.WriteError) as info:
        write_image(target, np.zeros((2, 2), np.uint8))
    assert str(info.value) == f"{target}: file name too long ({size} bytes, the limit is 255)"
    assert list(tmp_path.iterdir()) == []


# issue 9 item 6
def test_a_derived_output_name_over_name_max_fails_that_file(invoke, tmp_path):
    source = write_rgb(tmp_path / ("b" * 245 + ".png"), np.zeros((4, 4), np.uint8))
    target = tmp_path / ("b" * 245 + ".max-k2-s2.png")
    result = invoke("max", source)
    assert (result.exit_code, result.stderr) == (
        1,
        f"poolcli: error: {target}: file name too long (259 bytes, the limit is 255)\n",
    )


def _read_in_thread(call, seconds: float = 20.0):
    """Run ``call`` in a daemon thread; return what it returned or raised, or fail if it blocks."""
    box: dict = {}

    def work():
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread.is_alive(), box


# issue 9 item 7
def test_a_fifo_is_refused_without_opening_it(tmp_path, run_poolcli):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    blocked, box = _read_in_thread(lambda: read_image(fifo))
    if blocked:  # let the reader's open() return, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not blocked, "reading a FIFO blocked"
    assert isinstance(box.get("error"), ImageReadError)
    assert str(box["error"]) == f"{fifo}: not a regular file (a FIFO)"
    proc = subprocess.run([poolcli_executable(), "max", str(fifo)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (1, f"poolcli: error: {fifo}: not a regular file (a FIFO)\n")


# issue 9 item 7
def test_sockets_and_devices_are_refused(tmp_path):
    sock_path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(ImageReadError) as info:
            read_image(sock_path)
        assert str(info.value) == f"{sock_path}: not a regular file (a socket)"
    with pytest.raises(ImageReadError) as info:
        read_image("/dev/null")
    assert str(info.value) == "/dev/null: not a regular file (a character device)"


def _limited_run(args: list[str], gib: int = 3) -> subprocess.CompletedProcess:
    """Run a command with its address space capped, so a reader that does not stop fails instead of
    eating RAM, and with a timeout, so one that blocks fails instead of hanging."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (gib << 30, gib << 30))

    return subprocess.run(args, capture_output=True, text=True, timeout=180, preexec_fn=cap)


# The child's own peak resident memory: VmHWM starts afresh at exec, where getrusage's
# ru_maxrss would include the forking test process.
PEAK_MIB = (
    "def peak_mib():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) // 1024\n"
)


# issue 9 item 8
def test_dev_zero_is_refused_at_once_with_bounded_memory():
    proc = _limited_run([poolcli_executable(), "max", "/dev/zero", "--device", "cpu"])
    assert (proc.returncode, proc.stderr) == (1, "poolcli: error: /dev/zero: not a regular file (a character device)\n")


# issue 9 item 8
def test_a_sparse_10_gb_file_is_refused_from_its_size(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    os.truncate(path, 10 << 30)  # sparse: no disk used
    code = (
        PEAK_MIB + "import sys, poolcli\n"
        "try:\n"
        "    poolcli.read_image(sys.argv[1])\n"
        "except poolcli.PoolcliError as exc:\n"
        "    print(exc)\n"
        "print(peak_mib())\n"
    )
    proc = _limited_run([sys.executable, "-c", code, str(path)])
    message, peak_mib = proc.stdout.splitlines()
    assert message == (
        f"{path}: file too large: 10,737,418,240 bytes, over 2,930,420,384, "
        "the most an image of at most 89,478,485 pixels can take"
    )
    assert int(peak_mib) < 300


# issue 9 item 8
def test_a_large_non_image_is_refused_from_its_first_bytes(tmp_path):
    path = tmp_path / "zeros.png"
    path.write_bytes(b"")
    os.truncate(path, 1 << 30)  # 1 GiB, under the size limit, all zeros
    code = (
        PEAK_MIB + "import sys, poolcli\n"
        "try:\n"
        "    poolcli.read_image(sys.argv[1])\n"
        "except poolcli.PoolcliError as exc:\n"
        "    print(exc)\n"
        "print(peak_mib())\n"
    )
    proc = _limited_run([sys.executable, "-c", code, str(path)])
    message, peak_mib = proc.stdout.splitlines()
    assert message == f"{path}: not a recognised image format"
    assert int(peak_mib) < 300  # the rest of the gigabyte was never read


# issue 9 item 8
def test_the_size_limit_is_exact_and_a_legal_file_at_it_reads(tmp_path):
    limit = image_io.max_file_bytes(1)
    assert limit == 32 + (64 << 20)
    pixel = tmp_path / "one.png"
    pixel.write_bytes(encode(".png", np.array([[[7, 8, 9]]], np.uint8)))
    os.truncate(pixel, limit)  # padding after IEND, which decoders ignore
    assert read_image(pixel, max_pixels=1).tolist() == [[[7, 8, 9]]]
    os.truncate(pixel, limit + 1)
    with pytest.raises(poolcli.FileTooLargeError) as info:
        read_image(pixel, max_pixels=1)
    assert str(info.value) == (
        f"{pixel}: file too large: 67,108,897 bytes, over 67,108,896, the most an image of at most 1 pixels can take"
    )
    assert read_image(pixel, max_pixels=0).shape == (1, 1, 3)  # 0: no limit


# issue 9 item 8
def test_widest_samples_at_max_pixels_fit_the_limit(tmp_path, rng):
    image = rng.normal(0, 1, (256, 256, 4))  # float64 RGBA: 32 bytes a pixel, the worst case
    path = tmp_path / "wide.tif"
    path.write_bytes(encode(".tif", image, (cv2.IMWRITE_TIFF_COMPRESSION, 1)))
    assert path.stat().st_size > 32 * image.shape[0] * image.shape[1]
    np.testing.assert_array_equal(read_image(path, max_pixels=256 * 256), image)


class _Endless(io.RawIOBase):
    """An endless, unseekable stream: ``head`` then zeros; counts what it hands out."""

    def __init__(self, head: bytes):
        self.head, self.given = head, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = len(buffer)
        data = (self.head[self.given :] + bytes(n))[:n]
        buffer[:n] = data
        self.given += n
        return n


# issue 9 item 8
def test_read_stream_refuses_an_endless_stream_at_the_limit():
    stream = _Endless(b"\x89PNG\r\n\x1a\n")
    tracemalloc.start()
    try:
        with pytest.raises(poolcli.FileTooLargeError) as info:
            image_io.read_stream(stream, max_pixels=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    limit = image_io.max_file_bytes(1000)
    assert (
        str(info.value)
        == f"-: input too large: over {limit:,} bytes, the most an image of at most 1,000 pixels can take"
    )
    assert stream.given == limit + 1  # not a byte further
    assert peak < 2 * limit


# issue 9 item 8
def test_read_stream_checks_the_head_and_reads_a_real_image(tmp_path):
    zeros = _Endless(b"")
    with pytest.raises(ImageReadError) as info:
        image_io.read_stream(zeros, name="<stdin>")
    assert str(info.value) == "<stdin>: not a recognised image format"
    assert zeros.given == image_io.HEAD_BYTES
    with pytest.raises(ImageReadError, match=r"^-: empty file$"):
        image_io.read_stream(io.BytesIO(b""))
    data = encode(".png", np.arange(30, dtype=np.uint8).reshape(5, 6))
    with subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as cat:  # a real pipe
        cat.stdin.write(data)
        cat.stdin.close()
        assert image_io.read_stream(cat.stdout) == data


def gray_alpha_tiff(gray: np.ndarray, alpha: np.ndarray, order: str = "<") -> bytes:
    """An uncompressed 2-sample (gray, alpha) TIFF, written field by field (Pillow has no 16-bit LA)."""
    height, width = gray.shape
    bits = gray.dtype.itemsize * 8
    pixels = np.dstack([gray, alpha]).astype(gray.dtype.newbyteorder(order)).tobytes()
    tags = [  # (tag, type, count, value): SHORT = 3, LONG = 4
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 2, None), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, None), (277, 3, 1, 2), (278, 4, 1, height), (279, 4, 1, len(pixels)), (338, 3, 1, 2),
        (339, 3, 2, None),
    ]  # fmt: skip
    ifd_size = 2 + 12 * len(tags) + 4
    data_at = 8 + ifd_size
    body = b""
    for tag, kind, count, value in tags:
        if tag == 258:
            slot = struct.pack(order + "HH", bits, bits)
        elif tag == 339:  # sample format: 1 unsigned, 3 float
            kind_of_sample = 3 if gray.dtype.kind == "f" else 1
            slot = struct.pack(order + "HH", kind_of_sample, kind_of_sample)
        elif tag == 273:
            slot = struct.pack(order + "I", data_at)
        else:
            slot = struct.pack(order + ("HH" if kind == 3 else "I"), *((value, 0) if kind == 3 else (value,)))
        body += struct.pack(order + "HHI", tag, kind, count) + slot
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    return magic + struct.pack(order + "I", 8) + struct.pack(order + "H", len(tags)) + body + b"\0\0\0\0" + pixels


# issue 9 item 20
@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_adobe_deflate", "packbits"])
def test_gray_alpha_tiff_reads_as_rgba_like_a_gray_alpha_png(tmp_path, rng, compression):
    from PIL import Image

    from .conftest import pil_bytes

    gray_alpha = Image.fromarray(rng.integers(0, 256, (9, 13, 2), dtype=np.uint8), "LA")
    png = tmp_path / "la.png"
    png.write_bytes(pil_bytes(gray_alpha, "PNG"))
    tif = tmp_path / "la.tif"
    tif.write_bytes(pil_bytes(gray_alpha, "TIFF", **({"compression": compression} if compression else {})))
    expected = read_image(png)
    assert expected.shape == (9, 13, 4)  # OpenCV spreads a PNG's gray over R, G and B
    loaded = image_io.load_image(tif)
    np.testing.assert_array_equal(loaded.image, expected)
    assert loaded.warnings == ()
    assert read_image(tif, "rgb").shape == (9, 13, 3) and read_image(tif, "gray").shape == (9, 13)


# issue 9 item 20
@pytest.mark.parametrize(("dtype", "order"), [(np.uint16, "<"), (np.uint16, ">"), (np.float32, "<"), (np.uint8, ">")])
def test_gray_alpha_tiff_keeps_its_depth(tmp_path, rng, dtype, order):
    if np.dtype(dtype).kind == "f":
        gray, alpha = rng.random((6, 7)).astype(dtype), rng.random((6, 7)).astype(dtype)
    else:
        gray, alpha = (rng.integers(0, np.iinfo(dtype).max, (6, 7), dtype=dtype) for _ in range(2))
    path = tmp_path / "la.tif"
    path.write_bytes(gray_alpha_tiff(gray, alpha, order))
    image = read_image(path)
    assert image.dtype == dtype and image.dtype.isnative
    np.testing.assert_array_equal(image, np.dstack([gray, gray, gray, alpha]))


# issue 9 item 20
def test_gray_alpha_tiff_that_cannot_keep_its_alpha_says_so(tmp_path, rng):
    from PIL import Image

    from .conftest import pil_bytes

    gray_alpha = Image.fromarray(rng.integers(0, 256, (32, 32, 2), dtype=np.uint8), "LA")
    path = tmp_path / "predictor.tif"
    path.write_bytes(pil_bytes(gray_alpha, "TIFF", compression="tiff_adobe_deflate", tiffinfo={317: 2}))
    loaded = image_io.load_image(path)
    assert loaded.image.shape == (32, 32)
    assert loaded.warnings == (
        "gray+alpha TIFF stored with a predictor: OpenCV reads it only as 8-bit gray, the alpha dropped",
    )
    with pytest.raises(ImageReadError, match="alpha dropped"):
        read_image(path, strict=True)


# not an issue item: found while testing item 8 (float64 RGBA, the widest samples); cv2.cvtColor takes no float64
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
@pytest.mark.parametrize("channels", [3, 4])
def test_colour_tiff_of_any_sample_format_keeps_rgb_order(tmp_path, rng, dtype, channels):
    image = rng.integers(-1000, 1000, (5, 6, channels)).astype(dtype)
    path = write_image(tmp_path / "c.tif", image)
    np.testing.assert_array_equal(read_image(path), image)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[0, 0, 0] == image[0, 0, 2]  # BGR on disk


def tiff_with_pages(pages: int) -> bytes:
    """A real one-page TIFF from OpenCV whose IFD chain goes on with ``pages - 1`` empty directories."""
    data = bytearray(encode(".tif", np.zeros((4, 5), np.uint8)))
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    link = ifd + 2 + 12 * count
    chain = bytearray()
    start = len(data)
    for i in range(pages - 1):
        at = start + 6 * i
        chain += struct.pack("<HI", 0, at + 6 if i < pages - 2 else 0)
    struct.pack_into("<I", data, link, start if pages > 1 else 0)
    return bytes(data + chain)


# issue 9 item 37
def test_a_tiff_page_count_at_the_bound_says_at_least(tmp_path):
    from poolcli.sniff import MAX_COUNTED_FRAMES, probe

    header = probe(tiff_with_pages(200_001))
    assert (header.frames, header.frames_exact) == (MAX_COUNTED_FRAMES, False) == (100_000, False)
    assert probe(tiff_with_pages(MAX_COUNTED_FRAMES)).frames_exact  # exactly at the bound: the chain ended
    assert probe(tiff_with_pages(3)).frames == 3 and probe(tiff_with_pages(3)).frames_exact
    path = tmp_path / "pages.tif"
    path.write_bytes(tiff_with_pages(200_001))
    assert image_io.load_image(path).warnings == ("at least 100000 frames, used the first",)
    path.write_bytes(tiff_with_pages(3))
    assert image_io.load_image(path).warnings == ("3 frames, used the first",)


# issue 9 item 27
def test_quality_sets_jpeg_and_webp_compression(tmp_path, rng):
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    bgr = image[..., ::-1]
    for ext, flag in ((".jpg", cv2.IMWRITE_JPEG_QUALITY), (".webp", cv2.IMWRITE_WEBP_QUALITY)):
        for quality in (1, 40, 100):
            written = write_image(tmp_path / f"q{quality}{ext}", image, quality=quality)
            assert (
                written.read_bytes()
                == encode(ext, image, (flag, quality))
                == cv2.imencode(ext, bgr, [flag, quality])[1].tobytes()
            )
    assert (tmp_path / "q1.jpg").stat().st_size < (tmp_path / "q100.jpg").stat().st_size
    # the defaults: JPEG at 95, WebP lossless
    assert image_io.encode_image("x.jpg", image) == encode(".jpg", image, (cv2.IMWRITE_JPEG_QUALITY, 95))
    assert image_io.DEFAULT_JPEG_QUALITY == 95
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "lossless.webp", image)), image)
    # lossless formats take no quality and ignore it
    assert image_io.encode_image("x.png", image, quality=10) == image_io.encode_image("x.png", image)


# issue 9 item 27
@pytest.mark.parametrize("quality", [0, 101, -5, 95.5, True, "95"])
def test_quality_out_of_range_is_a_parameter_error(tmp_path, quality):
    with pytest.raises(poolcli.ParameterError) as info:
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint8), quality=quality)
    assert str(info.value) == f"quality {quality}: must be an integer from 1 to 100"
    assert (info.value.name, info.value.value) == ("quality", quality)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(poolcli.ParameterError):
        image_io.encode_image("x.webp", np.zeros((4, 4, 3), np.uint8), quality=quality)


def damaged_jpeg(zeroed: int = 200) -> tuple[bytes, bytes]:
    """A real photo as a JPEG without restart markers, and the same file with ``zeroed`` bytes
    zeroed in the middle of its scan: its markers stay intact, so only a decoder sees the damage."""
    photo = cv2.imread(str(Path(__file__).parent.parent / "sample_images" / "coffee.jpg"))
    good = bytearray(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    scan = good.index(b"\xff\xda")
    middle = (scan + len(good)) // 2
    bad = bytearray(good)
    bad[middle : middle + zeroed] = bytes(zeroed)
    return bytes(good), bytes(bad)


RECOVERED = (
    r"corrupt JPEG data: \d+ extraneous bytes before marker 0xd9; the decoder recovered, some pixels may be wrong"
)


# issue 9 item 19
def test_damage_inside_the_scan_without_restart_markers_is_a_warning(tmp_path):
    from poolcli.sniff import probe

    good, bad = damaged_jpeg()
    assert probe(bad).problem is None  # the structure is intact: the check cannot see it
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bad)
    loaded = image_io.load_image(path)
    assert len(loaded.warnings) == 1 and re.fullmatch(RECOVERED, loaded.warnings[0]), loaded.warnings
    opencv = cv2.cvtColor(cv2.imdecode(np.frombuffer(bad, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(loaded.image, opencv)  # the pixels are still OpenCV's
    with pytest.raises(StrictError) as info:  # the command line adds "(an error with --strict)"
        read_image(path, strict=True)
    assert re.fullmatch(re.escape(f"{path}: ") + RECOVERED, str(info.value))
    assert image_io.load_image_bytes(good).warnings == ()


# issue 9 item 19
def test_damage_warning_reaches_the_installed_command_once(run_poolcli, tmp_path):
    path = tmp_path / "damaged.jpg"
    path.write_bytes(damaged_jpeg()[1])
    proc = run_poolcli("max", path, "--device", "cpu")
    assert proc.returncode == 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("poolcli:")]
    assert len(ours) == 1 and re.fullmatch(re.escape(f"poolcli: warning: {path}: ") + RECOVERED, ours[0]), proc.stderr
    strict = run_poolcli("max", path, "--device", "cpu", "--strict", "--overwrite")
    assert strict.returncode == 1 and strict.stderr.count("\n") == 1  # refused before OpenCV decodes: no libjpeg line


# issue 9 item 19
def test_restart_damage_is_warned_once_and_sound_files_not_at_all(tmp_path):
    image = np.zeros((64, 64, 3), np.uint8)
    data = encode(".jpg", image, (cv2.IMWRITE_JPEG_RST_INTERVAL, 1))
    markers = [m.start() for m in re.finditer(rb"\xff[\xd0-\xd7]", data)]
    lost = data[: markers[3]] + data[markers[6] :]
    assert image_io.load_image_bytes(lost).warnings == (
        "corrupt JPEG data: 3 restart interval(s) lost or damaged in the image data; "
        "the decoder recovered, some pixels may be wrong",
    )
    for variant in (data, encode(".jpg", image[..., 0]), encode(".jpg", image, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))):
        assert image_io.load_image_bytes(variant).warnings == ()


# issue 9 item 19
def test_without_simplejpeg_the_damage_goes_unwarned(monkeypatch):
    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # import simplejpeg now raises ImportError
    assert image_io.load_image_bytes(damaged_jpeg()[1]).warnings == ()

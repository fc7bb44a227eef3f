"""Reading and writing real files through OpenCV."""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import poolcli
from poolcli.errors import FormatError, ImageReadError, ImageTooLargeError, OutputExistsError, OutputPathError
from poolcli.image_io import apply_orientation, decode_image, load_image, read_image, write_image
from poolcli.sniff import probe, tiff_orientation

from .conftest import pil_bytes, poolcli_executable, write_rgb
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

"""Reading and writing real files through OpenCV."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

import poolcli
from poolcli.errors import FormatError, ImageReadError, OutputExistsError, OutputPathError
from poolcli.image_io import apply_orientation, read_image, write_image
from poolcli.sniff import probe, tiff_orientation

from .conftest import write_rgb


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
    import zlib

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

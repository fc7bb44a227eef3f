"""Odd and hostile files through the command line: every one gets a clear answer, real OpenCV, real processes."""

from __future__ import annotations

import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import poolcli
from poolcli.image_io import load_image, read_image

from .conftest import encode, pil_bytes, poolcli_executable, write_rgb
from .files import (
    LIMIT,
    _jpeg,
    _symlink_loop,
    alpha_inputs,
    damaged,
    damaged_in_the_middle,
    frames,
    made,
    outputs,
    photo,
    random_files,
    tiff_with_samples,
    watchdog,
)
from .test_image_io import jpeg_with_orientation, png_with_orientation


def test_symlink_loop_answers_at_once_in_a_real_process(run_poolcli, tmp_path):
    path = _symlink_loop(tmp_path)
    proc = run_poolcli("max", path, "--device", "cpu")  # the fixture times out at 120 s
    assert (proc.returncode, proc.stderr) == (1, f"poolcli: error: {path}: symbolic link loop\n")


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


def test_permission_denied_comes_from_the_os(run_poolcli):
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


def test_truncated_jpeg_is_an_error_and_allow_truncated_a_warning(invoke, tmp_path):
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


def test_missing_end_marker_only(invoke, tmp_path):
    path = made(tmp_path / "noeoi.jpg", _jpeg()[:-2])
    result = invoke("avg", path, "--device", "cpu", "--allow-truncated")
    assert result.exit_code == 0
    whole = read_image(made(tmp_path / "whole.jpg", _jpeg()))
    np.testing.assert_array_equal(read_image(path, allow_truncated=True), whole)  # nothing was really missing


def test_recovered_jpeg_damage_is_a_warning_and_strict_an_error(invoke, tmp_path):
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


def test_warning_reaches_stderr_of_the_installed_command(run_poolcli, tmp_path):
    path = made(tmp_path / "damaged.jpg", damaged_in_the_middle())
    proc = run_poolcli("global", path, "--device", "cpu")
    assert proc.returncode == 0
    assert f"poolcli: warning: {path}: corrupt JPEG data: " in proc.stderr
    assert proc.stdout.startswith(f"{path}: global avg: R=")


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
def test_every_parsed_header_is_held_to_max_pixels(invoke, tmp_path, ext, make):
    path = made(tmp_path / f"small{ext}", make(photo((37, 41, 3))))
    result = invoke("max", path, "--device", "cpu", "--max-pixels", "1000")
    assert result.exit_code == 1
    assert result.stderr == (
        f"poolcli: error: {path}: image too large: 41x37 = 1,517 pixels, over the limit of 1,000 pixels "
        "(raise it with --max-pixels; 0 = no limit)\n"
    )
    assert invoke("max", path, "--device", "cpu", "--max-pixels", "1517").exit_code == 0


def test_a_format_poolcli_does_not_size_falls_back_to_opencvs_cap(run_poolcli, tmp_path, monkeypatch):
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


def test_out_of_memory_while_decoding_fails_that_file_only(tmp_path, bomb):
    made(tmp_path / "bomb.png", bomb)
    fine = write_rgb(tmp_path / "fine.png", photo((8, 8, 3)))
    limit = 700 << 20  # room for Python and OpenCV, not for a 400 MB picture

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    # OpenBLAS reserves memory per core at import; on a many-core machine that alone passes the cap
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        # one worker: each extra thread reserves a malloc arena, and that address space counts against the cap
        [poolcli_executable(), "info", str(tmp_path / "bomb.png"), str(fine), "--max-pixels", "0", "-j", "1"],
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
def test_any_decoder_exception_is_reported_and_the_batch_continues(invoke, tmp_path, monkeypatch, raised, reason):
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


@pytest.mark.parametrize("shape", [(26, 33), (26, 33, 3)], ids=["gray16", "rgb16"])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_sixteen_bit_png_pooled_and_written_at_full_precision(invoke, tmp_path, rng, shape, op):
    deep = rng.integers(0, 65536, shape, dtype=np.uint16)
    path = write_rgb(tmp_path / "deep.png", deep)
    assert invoke(op, path, "--device", "cpu").exit_code == 0
    out = read_image(tmp_path / f"deep.{op}-k2-s2.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, poolcli.pool(deep, op))
    assert (out % 256 != 0).any() and out.max() > 255  # not 8-bit data shifted up


def test_float32_tiff_pooled_and_written_as_float_tiff(invoke, tmp_path, rng):
    image = rng.normal(0, 1, (20, 24, 3)).astype(np.float32)
    path = made(tmp_path / "f.tif", encode(".tiff", image))
    assert invoke("avg", path, "--device", "cpu").exit_code == 0
    out = read_image(tmp_path / "f.avg-k2-s2.tif")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, poolcli.pool(image, "avg"))


def test_a_sample_format_opencv_cannot_read_is_named(invoke, tmp_path):
    path = made(tmp_path / "half.tif", tiff_with_samples(np.ones((4, 6), np.float16), 3))
    result = invoke("max", path, "--device", "cpu")
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {path}: unsupported sample format float16 (OpenCV cannot decode it)\n"
    ok = made(tmp_path / "single.tif", tiff_with_samples(np.arange(24, dtype=np.float32).reshape(4, 6), 3))
    np.testing.assert_array_equal(read_image(ok), np.arange(24, dtype=np.float32).reshape(4, 6))


def test_every_transparent_input_becomes_rgba(invoke, tmp_path):
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


@pytest.mark.parametrize("kind", ["jpg", "png"])
@pytest.mark.parametrize("color", ["auto", "unchanged", "rgb", "gray"])
def test_orientation_six_applied_in_every_mode(invoke, tmp_path, kind, color):
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


def test_cmyk_jpeg_reads_as_rgb(invoke, tmp_path):
    rgb = photo((32, 48, 3))
    path = made(tmp_path / "print.jpg", pil_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95))
    assert Image.open(path).mode == "CMYK"
    image = read_image(path)
    assert image.shape == (32, 48, 3)
    expected = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert np.abs(image.astype(int) - expected).mean() < 3
    assert invoke("avg", path, "--device", "cpu").exit_code == 0
    assert read_image(tmp_path / "print.avg-k2-s2.jpg").shape == (16, 24, 3)


MULTI = [
    ("anim.gif", "GIF"),
    ("anim.png", "PNG"),
    ("pages.tif", "TIFF"),
    ("anim.webp", "WEBP"),
]


@pytest.mark.parametrize(("name", "fmt"), MULTI)
def test_first_frame_with_a_warning(invoke, tmp_path, name, fmt):
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


def test_spaces_and_non_ascii_names(run_poolcli, tmp_path):
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


def test_relative_dot_path_in_a_real_process(run_poolcli, tmp_path):
    write_rgb(tmp_path / "photo.png", photo())
    proc = run_poolcli("max", "photo.png", "-o", "./photo.png", "--overwrite", "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "poolcli: error: photo.png: output is the input file itself; refusing to overwrite an input\n"


def test_missing_output_folders_are_created(invoke, tmp_path):
    source = write_rgb(tmp_path / "photo.png", photo())
    assert invoke("max", source, "--device", "cpu", "-o", tmp_path / "a" / "b" / "c.png").exit_code == 0
    assert read_image(tmp_path / "a" / "b" / "c.png").shape == (48, 64, 3)


def test_sixteen_bit_to_jpeg_is_refused_before_pooling_or_converted_on_request(invoke, tmp_path, rng):
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


def test_float_to_eight_bit_on_request(invoke, tmp_path):
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


def test_alpha_to_jpeg_is_refused_or_flattened(invoke, tmp_path):
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


def test_bad_background_is_a_usage_error(invoke, rgba_png):
    result = invoke("max", rgba_png, "--background", "mauve")
    assert result.exit_code == 2
    assert "expected white, black, gray, #RRGGBB or R,G,B with 0..255 (got 'mauve')" in result.stderr


@pytest.mark.parametrize("dtype", ["float64", "int16", "int32", "int8"])
def test_other_tiff_sample_formats_round_trip(invoke, tmp_path, rng, dtype):
    image = (rng.normal(0, 50, (12, 10))).astype(dtype)
    path = poolcli.write_image(tmp_path / "s.tif", image)
    np.testing.assert_array_equal(read_image(path), image)
    assert invoke("max", path, "--device", "cpu").exit_code == 0
    out = read_image(tmp_path / "s.max-k2-s2.tif")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, poolcli.pool(image, "max"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=damaged(), op=st.sampled_from(["max", "avg", "min"]))
def test_cli_answers_every_damaged_file_in_one_line(invoke, tmp_path, case, op):
    name, data = case
    path = tmp_path / name
    path.write_bytes(data)
    with watchdog():
        result = invoke(op, path, "-o", f"{tmp_path}/out/", "--overwrite", "--device", "cpu", "--max-pixels", LIMIT)
    assert result.exit_code in (0, 1), result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith(("poolcli: error: ", "poolcli: warning: ")) for line in lines), lines
    if result.exit_code == 1:
        assert lines[-1].startswith("poolcli: error: ")
    else:
        assert (tmp_path / "out").is_dir()


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(st.one_of(damaged(), random_files), min_size=6, max_size=10))
def test_installed_command_survives_a_folder_of_damaged_files(run_poolcli, tmp_path_factory, cases):
    folder: Path = tmp_path_factory.mktemp("damaged")
    for i, (name, data) in enumerate(cases):
        (folder / f"{i:02d}-{Path(name).stem}{Path(name).suffix if name != 'random.bin' else '.png'}").write_bytes(data)
    proc = run_poolcli("max", folder, "-o", f"{folder}/out/", "--device", "cpu", "--max-pixels", LIMIT)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("poolcli: error: ")]
    written = len(list((folder / "out").iterdir())) if (folder / "out").exists() else 0
    assert written + len(ours) == len(cases)  # every file either written or named in one error line


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

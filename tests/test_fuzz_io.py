"""Fuzzing the way in: random bytes and damaged real files give an image or a PoolcliError, nothing else.

Every case runs under a watchdog (faulthandler), so a hang anywhere, even
inside OpenCV's C code, fails the run with a traceback instead of stalling
it. Examples are bounded so the suite stays quick on two cores.
"""

from __future__ import annotations

import faulthandler
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from poolcli.errors import PoolcliError
from poolcli.image_io import decode_image

from .conftest import encode, pil_bytes

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

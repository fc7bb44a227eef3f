"""Reading and writing image files: the only module that imports OpenCV.

Images cross this boundary as NumPy arrays in RGB(A) order, shape (H, W) or
(H, W, C), in the file's own sample format (uint8, uint16, float32 ...).
OpenCV's BGR order stays inside this module. Files are read as bytes and
decoded in memory, and written by encoding in memory, writing a temporary
file in the target folder and renaming it into place, so a failed write never
leaves a partial file or damages an existing one.
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import FormatError, ImageReadError, OutputExistsError, OutputPathError, WriteError

ColorMode = Literal["auto", "gray", "rgb", "unchanged"]
COLOR_MODES: tuple[str, ...] = ("auto", "gray", "rgb", "unchanged")


@dataclass(frozen=True)
class Format:
    """What an output format can hold."""

    name: str
    dtypes: tuple[str, ...]
    channels: tuple[int, ...]


_PNG = Format("PNG", ("uint8", "uint16"), (1, 3, 4))
_JPEG = Format("JPEG", ("uint8",), (1, 3))
_TIFF = Format("TIFF", ("uint8", "uint16", "float32"), (1, 3, 4))
_WEBP = Format("WebP", ("uint8",), (3, 4))
_BMP = Format("BMP", ("uint8",), (1, 3, 4))
_PGM = Format("PGM", ("uint8", "uint16"), (1,))
_PPM = Format("PPM", ("uint8", "uint16"), (3,))

#: Output formats by file extension (lower case, with the dot).
FORMATS: dict[str, Format] = {
    ".png": _PNG,
    ".jpg": _JPEG,
    ".jpeg": _JPEG,
    ".jpe": _JPEG,
    ".tif": _TIFF,
    ".tiff": _TIFF,
    ".webp": _WEBP,
    ".bmp": _BMP,
    ".pgm": _PGM,
    ".ppm": _PPM,
}


def output_format(path: str | Path) -> Format:
    """The format an output path's extension selects.

    Raises
    ------
    OutputPathError
        Missing or unknown extension.
    """
    suffix = Path(path).suffix.lower()
    if not suffix:
        raise OutputPathError(f"no file extension, so no output format (use one of {_known()})", path=path)
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise OutputPathError(f"unknown output format {suffix!r} (use one of {_known()})", path=path)
    return fmt


def check_format(path: str | Path, image: np.ndarray) -> None:
    """Raise :class:`FormatError` when ``path``'s format cannot hold ``image`` as it is."""
    fmt = output_format(path)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype.name not in fmt.dtypes:
        able = ", ".join(
            sorted({e for e, f in FORMATS.items() if image.dtype.name in f.dtypes and channels in f.channels})
        )
        raise FormatError(
            f"{fmt.name} cannot hold {image.dtype.name} samples without losing them"
            + (f"; use {able}" if able else ""),
            path=path,
        )
    if channels not in fmt.channels:
        what = {1: "grayscale", 2: "2-channel", 3: "RGB", 4: "RGBA (alpha)"}.get(channels, f"{channels}-channel")
        able = ", ".join(
            sorted({e for e, f in FORMATS.items() if image.dtype.name in f.dtypes and channels in f.channels})
        )
        raise FormatError(f"{fmt.name} cannot hold {what} images" + (f"; use {able}" if able else ""), path=path)


def read_image(path: str | Path, color: ColorMode = "auto", *, ignore_orientation: bool = False) -> np.ndarray:
    """Read an image file as an RGB(A) array in the file's own sample format.

    Parameters
    ----------
    path : path-like
        Any file OpenCV can decode; non-ASCII names work (bytes are read by
        Python and decoded in memory).
    color : {"auto", "gray", "rgb", "unchanged"}
        ``auto``/``unchanged``: what the file has (gray stays gray, alpha is
        kept as a 4th channel, 16-bit stays 16-bit, float stays float).
        ``gray``: one channel. ``rgb``: three channels, alpha dropped. The bit
        depth is kept in every mode.
    ignore_orientation : bool
        Keep the stored pixel layout instead of applying the EXIF orientation
        (which is applied in every colour mode by default, for JPEG, PNG,
        WebP and TIFF).

    Returns
    -------
    ndarray of shape (H, W) or (H, W, C), C in {3, 4}, RGB(A) order.

    Raises
    ------
    ImageReadError
        The file is missing, unreadable or not a decodable image.
    """
    return decode_image(read_bytes(path), color, name=str(path), ignore_orientation=ignore_orientation)


def decode_image(
    data: bytes, color: ColorMode = "auto", *, name: str = "<stdin>", ignore_orientation: bool = False
) -> np.ndarray:
    """Like :func:`read_image`, for bytes already in memory (``name`` is for messages)."""
    import cv2

    if color not in COLOR_MODES:
        raise ValueError(f"color must be one of {', '.join(COLOR_MODES)}, got {color!r}")
    if not data:
        raise ImageReadError("empty file", path=name)
    flags = {
        "gray": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH,
        "rgb": cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH,
    }.get(color, cv2.IMREAD_UNCHANGED)
    flags |= cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        raise ImageReadError(f"cannot decode: {_cv_message(exc)}", path=name) from None
    if image is None:
        raise ImageReadError("not a recognised image format", path=name)
    image = _to_rgb(image)
    if not ignore_orientation:
        image = apply_orientation(image, exif_orientation(data))
    return np.ascontiguousarray(image)


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, with OS errors turned into one-line :class:`ImageReadError`."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        reason = "dangling symbolic link" if p.is_symlink() else "not found"
        raise ImageReadError(reason, path=path) from None
    except IsADirectoryError:
        raise ImageReadError("is a directory", path=path) from None
    except PermissionError:
        raise ImageReadError("permission denied", path=path) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageReadError("symbolic link loop", path=path) from None
        raise ImageReadError(exc.strerror or str(exc), path=path) from None
    if not data:
        raise ImageReadError("empty file", path=path)
    return data


def encode_image(path: str | Path, image: np.ndarray, *, png_compression: int | None = None) -> bytes:
    """Encode ``image`` (RGB(A)) in the format ``path``'s extension selects.

    ``png_compression`` (0..9) trades time for size in PNG files; OpenCV's
    default is fast, fine for pooled images, large for figures.
    """
    import cv2

    check_format(path, image)
    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression] if png_compression is not None and suffix == ".png" else []
    try:
        ok, buf = cv2.imencode(suffix, _to_bgr(image), params)
    except cv2.error as exc:
        raise WriteError(f"cannot encode: {_cv_message(exc)}", path=path) from None
    if not ok:
        raise WriteError("cannot encode", path=path)
    return buf.tobytes()


def write_image(path: str | Path, image: np.ndarray, overwrite: bool = False) -> Path:
    """Write an RGB(A) image atomically; returns the path written.

    The format follows the extension and must hold the image's sample format
    and channels (:class:`FormatError` otherwise: 16-bit data is never
    crushed into an 8-bit JPEG). Missing folders are created.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    WriteError
        Encoding or writing failed; an existing file at ``path`` is untouched.
    """
    data = encode_image(path, image)
    return write_bytes(path, data, overwrite=overwrite)


def write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename).

    Without ``overwrite`` an existing file is never replaced, even one that
    appears while the data is being written.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputPathError("is a directory", path=path)
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError("exists (use --overwrite to replace it)", path=path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(
            f"write failed: cannot create folder {target.parent}: {exc.strerror or exc}", path=path
        ) from None
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".poolcli-tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        if overwrite:
            os.replace(tmp_name, target)
        else:
            _link_no_clobber(tmp_name, target)
        tmp_name = None
    except OutputExistsError:
        raise
    except OSError as exc:
        raise WriteError(f"write failed: {exc.strerror or exc}", path=path) from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return target


def _link_no_clobber(tmp_name: str, target: Path) -> None:
    """Move ``tmp_name`` to ``target`` unless ``target`` exists (checked atomically)."""
    try:
        os.link(tmp_name, target)
    except FileExistsError:
        raise OutputExistsError("exists (use --overwrite to replace it)", path=target) from None
    except OSError:
        # File systems without hard links: a check and a rename (not atomic).
        if os.path.lexists(target):
            raise OutputExistsError("exists (use --overwrite to replace it)", path=target) from None
        os.replace(tmp_name, target)
        return
    os.unlink(tmp_name)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask is process-wide, and writes happen from worker threads.
_UMASK = _read_umask()


def _known() -> str:
    return ", ".join(sorted(FORMATS))


def _cv_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else "OpenCV error").strip()


def _to_rgb(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return image


def _to_bgr(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    return image


# --- EXIF orientation -----------------------------------------------------------


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels into display layout for EXIF orientation 1..8."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return image.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return image.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return image.swapaxes(0, 1)[::-1]
    return image


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) stored in JPEG, PNG, WebP or TIFF bytes; 1 if none."""
    try:
        if data[:2] == b"\xff\xd8":
            return _tiff_orientation(_jpeg_exif(data))
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _tiff_orientation(_png_exif(data))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _tiff_orientation(_webp_exif(data))
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_orientation(data)
    except (struct.error, IndexError, ValueError):
        return 1
    return 1


def _jpeg_exif(data: bytes) -> bytes:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more headers
            break
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return data[pos + 10 : pos + 2 + length]
        pos += 2 + length
    return b""


def _png_exif(data: bytes) -> bytes:
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"eXIf":
            return data[pos + 8 : pos + 8 + length]
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return b""


def _webp_exif(data: bytes) -> bytes:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        if kind == b"EXIF":
            body = data[pos + 8 : pos + 8 + length]
            return body[6:] if body.startswith(b"Exif\x00\x00") else body
        pos += 8 + length + (length & 1)
    return b""


def _tiff_orientation(tiff: bytes) -> int:
    if len(tiff) < 8:
        return 1
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:
            (value,) = struct.unpack(order + "H", entry[8:10])
            return value if 1 <= value <= 8 else 1
    return 1

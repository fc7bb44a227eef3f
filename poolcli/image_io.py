"""Reading and writing image files: the only module that imports OpenCV.

Images cross this boundary as NumPy arrays in RGB(A) order, shape (H, W) or
(H, W, C), in the file's own sample format (uint8, uint16, float32 ...).
OpenCV's BGR order stays inside this module.

Reading: the file's bytes are read by Python (so OS errors keep their
meaning and any file name works), their structure is checked by
:mod:`poolcli.sniff` (size cap, truncation, damage, frames) and only then
decoded in memory by OpenCV. Writing: the image is encoded in memory, written
to a temporary file in the target folder and renamed into place, so a failed
write never leaves a partial file or damages an existing one. Nothing here
changes process-wide state per call, so reads and writes may run in threads.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from .errors import (
    FormatError,
    ImageReadError,
    ImageTooLargeError,
    OutputExistsError,
    OutputPathError,
    ParameterError,
    StrictError,
    TruncatedImageError,
    WriteError,
)
from .paths import TEMP_SUFFIX, UMASK, temp_prefix
from .sniff import DEFAULT_MAX_PIXELS, HEAD_BYTES, Header, looks_like_image, probe
from .storage import is_url

ColorMode = Literal["auto", "gray", "rgb", "unchanged"]
WHITE: tuple[int, int, int] = (255, 255, 255)
COLOR_MODES: tuple[str, ...] = ("auto", "gray", "rgb", "unchanged")


@dataclass(frozen=True)
class Format:
    """What an output format can hold."""

    name: str
    dtypes: tuple[str, ...]
    channels: tuple[int, ...]


_PNG = Format("PNG", ("uint8", "uint16"), (1, 3, 4))
_JPEG = Format("JPEG", ("uint8",), (1, 3))
_TIFF = Format("TIFF", ("uint8", "uint16", "float32", "int8", "int16", "int32", "float64"), (1, 3, 4))
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


@dataclass(frozen=True)
class LoadedImage:
    """An image read from a file, with what poolcli noticed on the way.

    Attributes
    ----------
    image : ndarray of shape (H, W) or (H, W, C), C in {3, 4}
        RGB(A) order, in the file's own sample format.
    format : str or None
        The container format read from the magic bytes (``"PNG"``, ``"JPEG"``,
        ...), None for formats only OpenCV knows.
    frames : int
        Frames or pages in the file; only the first is read.
    warnings : tuple of str
        One line each, without the path: damage the decoder recovered from, a
        truncation accepted with ``allow_truncated``, extra frames dropped.
    """

    image: np.ndarray
    format: str | None = None
    frames: int = 1
    warnings: tuple[str, ...] = ()


def read_image(
    path: str | Path,
    color: ColorMode = "auto",
    *,
    ignore_orientation: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strict: bool = False,
    allow_truncated: bool = False,
) -> np.ndarray:
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
    max_pixels : int
        Refuse a file whose header declares more pixels than this, before
        decoding it (0: no limit).
    strict : bool
        Make every warning (see :func:`load_image`) an error.
    allow_truncated : bool
        Decode a JPEG that ends early; the missing part is grey.

    Returns
    -------
    ndarray of shape (H, W) or (H, W, C), C in {3, 4}, RGB(A) order.
    Warnings are dropped; :func:`load_image` returns them.

    Raises
    ------
    ImageReadError
        The file is missing, unreadable, damaged or not a decodable image.
    ImageTooLargeError
        The header declares more than ``max_pixels`` pixels.
    """
    return load_image(
        path,
        color,
        ignore_orientation=ignore_orientation,
        max_pixels=max_pixels,
        strict=strict,
        allow_truncated=allow_truncated,
    ).image


def load_image(
    path: str | Path,
    color: ColorMode = "auto",
    *,
    ignore_orientation: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strict: bool = False,
    allow_truncated: bool = False,
) -> LoadedImage:
    """Like :func:`read_image`, returning the warnings too (a :class:`LoadedImage`).

    Before decoding, the file's structure is checked in pure Python
    (:mod:`poolcli.sniff`): the declared size against ``max_pixels``, PNG chunk
    CRCs and the IEND chunk, JPEG segments, scans, restart markers and the
    end-of-image marker, and the frame count of GIF, APNG, WebP and TIFF.
    A damaged file is an error; a JPEG whose damage the decoder recovers from,
    or a file with several frames, gives a warning.
    """
    return load_image_bytes(
        read_bytes(path),
        color,
        name=str(path),
        ignore_orientation=ignore_orientation,
        max_pixels=max_pixels,
        strict=strict,
        allow_truncated=allow_truncated,
    )


def decode_image(
    data: bytes,
    color: ColorMode = "auto",
    *,
    name: str = "<stdin>",
    ignore_orientation: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strict: bool = False,
    allow_truncated: bool = False,
) -> np.ndarray:
    """Like :func:`read_image`, for bytes already in memory (``name`` is for messages)."""
    return load_image_bytes(
        data,
        color,
        name=name,
        ignore_orientation=ignore_orientation,
        max_pixels=max_pixels,
        strict=strict,
        allow_truncated=allow_truncated,
    ).image


def load_image_bytes(
    data: bytes,
    color: ColorMode = "auto",
    *,
    name: str = "<stdin>",
    ignore_orientation: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strict: bool = False,
    allow_truncated: bool = False,
) -> LoadedImage:
    """Like :func:`load_image`, for bytes already in memory (``name`` is for messages)."""
    if color not in COLOR_MODES:
        raise ParameterError("color", color, f"must be one of {', '.join(COLOR_MODES)}")
    if not data:
        raise ImageReadError("empty file", path=name)
    header = probe(data)
    warnings: list[str] = []
    if header is not None:
        data = _vet(data, header, warnings, name=name, max_pixels=max_pixels, allow_truncated=allow_truncated)
    if strict and warnings:
        raise StrictError(warnings[0], path=name)
    image = _decode(data, color, header, name)
    if not ignore_orientation and header is not None:
        image = apply_orientation(image, header.orientation)
    fmt = None if header is None else header.format
    frames = 1 if header is None else max(header.frames, 1)
    return LoadedImage(np.ascontiguousarray(image), fmt, frames, tuple(warnings))


def _vet(data: bytes, header: Header, warnings: list[str], *, name: str, max_pixels: int,
         allow_truncated: bool) -> bytes:  # fmt: skip
    """Apply poolcli's rules to what the header says; return the bytes to decode."""
    pixels = header.pixels
    if max_pixels and pixels is not None and pixels > max_pixels:
        raise ImageTooLargeError(header.width or 0, header.height or 0, max_pixels, path=name)
    if header.problem is None:
        pass
    elif header.recoverable:
        warnings.append(
            f"corrupt {header.format} data: {header.problem}; the decoder recovered, some pixels may be wrong"
        )
    elif header.format == "JPEG" and header.truncated and header.width is not None:
        if not allow_truncated:
            raise TruncatedImageError(f"corrupt or truncated: {header.problem}", path=name)
        warnings.append(f"truncated JPEG: {header.problem}; decoded what is there, missing rows are grey")
        # OpenCV's reader refuses data that just stops; an end-of-image marker
        # makes libjpeg fill the missing rows and finish.
        data = data + b"\xff\xd9"
    else:
        raise ImageReadError(f"corrupt or truncated: {header.problem}", path=name)
    if header.frames > 1:
        warnings.append(f"{header.frames} frames, used the first")
    return data


def _decode(data: bytes, color: ColorMode, header: Header | None, name: str) -> np.ndarray:
    """``cv2.imdecode`` with every way it can fail turned into an :class:`ImageReadError`."""
    cv2 = _cv2()
    flags = {
        "gray": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH,
        "rgb": cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH,
    }.get(color, cv2.IMREAD_UNCHANGED)
    flags |= cv2.IMREAD_IGNORE_ORIENTATION
    size = "" if header is None or header.pixels is None else f" {header.width}x{header.height}"
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except MemoryError:
        raise ImageReadError(f"out of memory while decoding the{size} image", path=name) from None
    except cv2.error as exc:
        text = _cv_message(exc)
        if "validateInputImageSize" in str(exc):
            raise ImageReadError(
                f"image too large{':' + size if size else ''}: over OpenCV's own limit "
                f"(OPENCV_IO_MAX_IMAGE_PIXELS={os.environ.get(_OPENCV_LIMIT, 'unset')}, read once when OpenCV "
                "is imported; set it in the environment to raise it)",
                path=name,
            ) from None
        if "Insufficient memory" in str(exc) or "Failed to allocate" in str(exc):
            raise ImageReadError(f"out of memory while decoding the{size} image", path=name) from None
        raise ImageReadError(f"cannot decode: {text}", path=name) from None
    if image is None:
        if header is None:
            raise ImageReadError("not a recognised image format", path=name)
        if header.sample is not None and header.sample not in _DECODABLE_SAMPLES:
            raise ImageReadError(f"unsupported sample format {header.sample} (OpenCV cannot decode it)", path=name)
        raise ImageReadError(f"corrupt or truncated, or a {header.format} variant this OpenCV cannot decode", path=name)
    return _to_rgb(image)


# TIFF sample formats OpenCV decodes (bilevel and 4-bit are expanded to uint8).
_DECODABLE_SAMPLES = frozenset(
    ["uint1", "uint4", "uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64"]
)
_OPENCV_LIMIT = "OPENCV_IO_MAX_IMAGE_PIXELS"
_UNLIMITED = str(1 << 62)


def set_opencv_pixel_limit(max_pixels: int) -> bool:
    """Make OpenCV's own pixel cap match ``max_pixels`` (0: no limit), if still possible.

    OpenCV reads ``OPENCV_IO_MAX_IMAGE_PIXELS`` once, when ``cv2`` is
    imported; its cap applies to every format, including those poolcli does
    not size itself. This sets the variable only when OpenCV is not imported
    yet and the user has not set it; it returns whether it did.
    """
    if "cv2" in sys.modules or _OPENCV_LIMIT in os.environ:
        return False
    os.environ[_OPENCV_LIMIT] = str(max_pixels) if max_pixels else _UNLIMITED
    return True


def _cv2() -> Any:
    """Import OpenCV, capping its pixel count at poolcli's default if nobody chose a cap.

    OpenCV's own log lines ("[ WARN:0@0.1] ... can't read header") would
    double poolcli's one-line errors, so unless the user set
    ``OPENCV_LOG_LEVEL``, it is set to ``FATAL`` before the first import
    (OpenCV reads it once, like the pixel cap).
    """
    if "cv2" not in sys.modules:
        set_opencv_pixel_limit(DEFAULT_MAX_PIXELS)
        os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
    import cv2

    return cv2


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, with OS errors turned into one-line :class:`ImageReadError`.

    A URL (``s3://...``) is read through fsspec (:func:`poolcli.storage.read_bytes`).
    """
    if is_url(path):
        from .storage import read_bytes as read_url

        return read_url(str(path))
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


#: JPEG and WebP quality when none is asked for: high enough that pooled
#: pixels survive nearly intact (a lossless format keeps them exactly).
DEFAULT_QUALITY = 95


def read_stream(stream: BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "-") -> bytes:
    """An image's bytes from a stream (standard input), read with the same bounds as a file.

    Reading stops at :func:`max_file_bytes` of ``max_pixels``; a stream
    whose first bytes are not an image's is refused as soon as they are read.
    """
    head = stream.read(HEAD_BYTES)
    if not head:
        raise ImageReadError("empty file", path=name)
    if not looks_like_image(head):
        raise ImageReadError("not a recognised image format", path=name)
    cap = max_file_bytes(max_pixels)
    rest = stream.read(cap - len(head) + 1) if cap else stream.read()
    data = head + rest
    if cap and len(data) > cap:
        raise ImageTooLargeError(0, 0, max_pixels, path=name, what=f"more than {cap:,} bytes")
    return data


def max_file_bytes(max_pixels: int) -> int:
    """The most bytes a file of at most ``max_pixels`` pixels can sensibly hold (0: no limit).

    The largest samples OpenCV reads are 4 channels of 8 bytes (float64
    RGBA TIFF), 32 bytes a pixel uncompressed; compression only makes files
    smaller, and 64 MiB more leaves room for any metadata.
    """
    return 32 * max_pixels + (64 << 20) if max_pixels else 0


def encode_image(
    path: str | Path, image: np.ndarray, *, png_compression: int | None = None, quality: int | None = None
) -> bytes:
    """Encode ``image`` (RGB(A)) in the format ``path``'s extension selects.

    ``png_compression`` (0..9) trades time for size in PNG files; OpenCV's
    default is fast, fine for pooled images, large for figures. ``quality``
    (1..100) is for JPEG and WebP; default :data:`DEFAULT_QUALITY`.
    """
    cv2 = _cv2()
    check_format(path, image)
    suffix = Path(path).suffix.lower()
    params: list[int] = []
    if png_compression is not None and suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
    if quality is not None and not (isinstance(quality, int) and 1 <= quality <= 100):
        raise ParameterError("quality", quality, "must be an integer from 1 to 100")
    if FORMATS[suffix] is _JPEG:
        params = [cv2.IMWRITE_JPEG_QUALITY, quality or DEFAULT_QUALITY]
    elif FORMATS[suffix] is _WEBP:
        params = [cv2.IMWRITE_WEBP_QUALITY, quality or DEFAULT_QUALITY]
    try:
        ok, buf = cv2.imencode(suffix, _to_bgr(image), params)
    except cv2.error as exc:
        raise WriteError(f"cannot encode: {_cv_message(exc)}", path=path) from None
    if not ok:
        raise WriteError("cannot encode", path=path)
    return buf.tobytes()


def write_image(
    path: str | Path,
    image: np.ndarray,
    overwrite: bool = False,
    *,
    depth: int | None = None,
    flatten: bool = False,
    background: tuple[int, int, int] = WHITE,
    quality: int | None = None,
) -> Path:
    """Write an RGB(A) image atomically; returns the path written.

    The format follows the extension and must hold the image's sample format
    and channels (:class:`FormatError` otherwise: 16-bit data is never
    crushed into an 8-bit JPEG, alpha never silently dropped), unless a
    conversion is asked for with ``depth`` or ``flatten`` (see
    :func:`prepare_output`). Missing folders are created.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    FormatError
        The format cannot hold the (converted) image.
    WriteError
        Encoding or writing failed; an existing file at ``path`` is untouched.
    """
    image = prepare_output(image, depth=depth, flatten=flatten, background=background)
    data = encode_image(path, image, quality=quality)
    return write_bytes(path, data, overwrite=overwrite)


def check_output(
    path: str | Path,
    image: np.ndarray,
    *,
    depth: int | None = None,
    flatten: bool = False,
    background: tuple[int, int, int] = WHITE,
) -> None:
    """Raise :class:`FormatError` now if ``image`` (or a pooled image of its kind) cannot be written to ``path``.

    Pooling keeps the dtype and channels, so this can be asked before the work.
    """
    corner = image[:1, :1]
    check_format(path, prepare_output(corner, depth=depth, flatten=flatten, background=background))


def prepare_output(
    image: np.ndarray,
    *,
    depth: int | None = None,
    flatten: bool = False,
    background: tuple[int, int, int] = WHITE,
) -> np.ndarray:
    """The conversions a user asked for before writing; without them, ``image`` unchanged.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        RGB(A) or gray(+alpha).
    depth : {None, 8, 16}
        Convert samples to uint8 or uint16. uint16 -> 8: ``round(x / 257)``;
        uint8 -> 16: ``x * 257``; float (taken as 0..1) -> ``round(clip(x, 0, 1) * 255)``
        or ``* 65535``, NaN as 0. Other integer types are refused.
    flatten : bool
        Composite an alpha channel over ``background`` and drop it:
        ``colour * a + background * (1 - a)``, with ``a`` the alpha scaled to
        0..1 (uint8 / 255, uint16 / 65535, float clipped to 0..1).
    background : (r, g, b)
        8-bit colour under transparent pixels (scaled to the image's range).

    Returns
    -------
    ndarray, (H, W) or (H, W, C') with C' = C - 1 when flattened.

    >>> prepare_output(np.array([[[200, 0, 0, 0], [200, 0, 0, 255]]], np.uint8), flatten=True)
    array([[[255, 255, 255],
            [200,   0,   0]]], dtype=uint8)
    """
    if flatten and image.ndim == 3 and image.shape[2] in (2, 4):
        image = _flatten(image, background)
    if depth is not None:
        image = _convert_depth(image, depth)
    return image


def parse_color(text: str) -> tuple[int, int, int]:
    """``white``, ``black``, ``gray``, ``#RRGGBB``, ``RRGGBB`` or ``R,G,B`` as an 8-bit (r, g, b).

    >>> parse_color("#ff8000"), parse_color("0,128,255"), parse_color("black")
    ((255, 128, 0), (0, 128, 255), (0, 0, 0))
    """
    named = {"white": WHITE, "black": (0, 0, 0), "gray": (128, 128, 128), "grey": (128, 128, 128)}
    value = text.strip().lower()
    if value in named:
        return named[value]
    hexa = value.removeprefix("#")
    if len(hexa) == 6 and all(c in "0123456789abcdef" for c in hexa):
        r, g, b = (int(hexa[i : i + 2], 16) for i in (0, 2, 4))
        return (r, g, b)
    parts = value.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        r, g, b = (int(p) for p in parts)
        return (r, g, b)
    raise ParameterError("background", text, "expected white, black, gray, #RRGGBB or R,G,B with 0..255")


def _flatten(image: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    colour = image[..., :-1].astype(np.float64)
    alpha = image[..., -1:].astype(np.float64)
    if image.dtype.kind == "f":
        scale = 1.0
        alpha = np.clip(np.nan_to_num(alpha), 0.0, 1.0)
    elif image.dtype in (np.uint8, np.uint16):
        scale = float(np.iinfo(image.dtype).max)
        alpha /= scale
    else:
        raise FormatError(f"cannot flatten {image.dtype.name} alpha (only uint8, uint16 and float)")
    under = np.array(background if image.shape[2] == 4 else [round(sum(background) / 3)], np.float64)
    under *= scale / 255.0
    out = colour * alpha + under * (1.0 - alpha)
    if image.dtype.kind == "f":
        return out.astype(image.dtype)
    return np.clip(np.rint(out), 0, scale).astype(image.dtype)


def _convert_depth(image: np.ndarray, depth: int) -> np.ndarray:
    target = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16)}.get(depth)
    if target is None:
        raise FormatError(f"depth {depth}: use 8 or 16")
    if image.dtype == target:
        return image
    top = float(np.iinfo(target).max)
    if image.dtype.kind == "f":
        unit = np.clip(np.nan_to_num(image.astype(np.float64)), 0.0, 1.0)
        return np.rint(unit * top).astype(target)
    if image.dtype == np.uint16:  # to 8 bits
        return np.rint(image / 257.0).astype(target)
    if image.dtype == np.uint8:  # to 16 bits
        return image.astype(target) * np.uint16(257)
    raise FormatError(f"no {depth}-bit mapping for {image.dtype.name} samples (only uint8, uint16 and float)")


def write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename).

    Without ``overwrite`` an existing file is never replaced, even one that
    appears while the data is being written. A URL (``s3://...``) is written
    through fsspec in one PUT (:func:`poolcli.storage.write_bytes`).
    """
    if is_url(path):
        from .storage import write_bytes as write_url

        return write_url(str(path), data, overwrite=overwrite)  # type: ignore[return-value]
    target = Path(path)
    if target.is_dir():
        raise OutputPathError("is a directory", path=path)
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(
            f"write failed: cannot create folder {target.parent}: {exc.strerror or exc}", path=path
        ) from None
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(), suffix=TEMP_SUFFIX)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o666 & ~UMASK)
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
        raise OutputExistsError(target) from None
    except OSError:
        # File systems without hard links: a check and a rename (not atomic).
        if os.path.lexists(target):
            raise OutputExistsError(target) from None
        os.replace(tmp_name, target)
        return
    os.unlink(tmp_name)


def _known() -> str:
    return ", ".join(sorted(FORMATS))


def _cv_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else "OpenCV error").strip()


def _to_rgb(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()

    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return image


def _to_bgr(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()

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

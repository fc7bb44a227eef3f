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
import io
import os
import stat
import struct
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from .errors import (
    FileTooLargeError,
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
from .sniff import DEFAULT_MAX_PIXELS, Header, looks_like_image, probe
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


def output_format(path: str | os.PathLike[str]) -> Format:
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
        decoding it, and a file larger than any image of that many pixels
        can be (:func:`max_file_bytes`), before reading it (0: no limit).
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
        The file is missing, unreadable, not a regular file (a FIFO, socket
        or device), damaged, or not a decodable image.
    ImageTooLargeError
        The header declares more than ``max_pixels`` pixels.
    FileTooLargeError
        The file has more bytes than an image of ``max_pixels`` pixels can take.
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

    The file is read by :func:`read_bytes` (regular files only, refused from
    its first bytes if they are no image format's, and from its size if it
    is larger than ``max_pixels`` allow). Before decoding, the file's
    structure is checked in pure Python (:mod:`poolcli.sniff`): the declared
    size against ``max_pixels``, PNG chunk CRCs and the IEND chunk, JPEG
    segments, scans, restart markers and the end-of-image marker, and the
    frame count of GIF, APNG, WebP and TIFF; a sound JPEG is also asked
    about damage inside its entropy-coded data (:func:`jpeg_decoder_warnings`).
    A damaged file is an error; a JPEG whose damage the decoder recovers
    from, a file with several frames, or a gray+alpha TIFF whose alpha
    cannot be kept gives a warning.
    """
    return load_image_bytes(
        read_bytes(path, max_pixels),
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
        if header.format == "JPEG" and header.problem is None:  # damage found above is already a warning
            warnings.extend(jpeg_decoder_warnings(data))
    wide = None
    if header is not None and header.format == "TIFF" and color in ("auto", "unchanged"):
        wide, note = _gray_alpha_tiff(data)
        if note is not None:
            warnings.append(note)
    if strict and warnings:
        raise StrictError(warnings[0], path=name)
    if wide is None:
        image = _decode(data, color, header, name)
    else:  # gray and alpha side by side: spread the gray over R, G, B, as OpenCV does for a gray+alpha PNG
        pairs = _decode(wide, color, header, name)
        gray = pairs[:, 0::2]
        image = np.dstack([gray, gray, gray, pairs[:, 1::2]])
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
        count = f"{header.frames} frames" if header.frames_exact else f"at least {header.frames} frames"
        warnings.append(f"{count}, used the first")
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


def jpeg_decoder_warnings(data: bytes) -> list[str]:
    """What libjpeg warns about while decoding ``data``: damage it recovered from, in one line each.

    The structure check (:mod:`poolcli.sniff`) finds lost restart intervals,
    but damage inside entropy-coded data is seen only by decoding it. libjpeg
    then recovers and prints ``Corrupt JPEG data: ...`` on stderr, which
    OpenCV does not pass on. This asks libjpeg-turbo through ``simplejpeg``
    (a dependency; without it this returns ``[]`` and such damage goes
    unnoticed, as before): it decodes at 1/8 scale in gray, which still
    reads every bit of the entropy-coded data (where the damage shows) but
    skips most of the inverse DCT and all colour work. The pixels poolcli
    returns are still OpenCV's.

    Returns
    -------
    list of str
        Empty for a sound file (and for one libjpeg cannot decode at all:
        OpenCV's decode reports that).
    """
    try:
        import simplejpeg
    except ImportError:
        return []
    options = {"colorspace": "GRAY", "fastdct": True, "fastupsample": True, "min_factor": 8}
    try:
        simplejpeg.decode_jpeg(data, strict=True, **options)  # strict: stop at libjpeg's first warning
        return []
    except ValueError as exc:
        message = str(exc).strip()
    except Exception:  # a checker that fails is no reason to refuse a file OpenCV may read
        return []
    try:  # was it a warning (decoding goes on past it) or a fatal error?
        simplejpeg.decode_jpeg(data, strict=False, **options)
    except Exception:
        return []
    detail = message.removeprefix("Corrupt JPEG data: ")
    if detail != message:
        return [f"corrupt JPEG data: {detail}; the decoder recovered, some pixels may be wrong"]
    return [f"the JPEG decoder warned: {message}"]


# TIFF compressions whose decoded strips do not depend on the samples per pixel.
_BYTE_STREAM_COMPRESSIONS = frozenset([1, 5, 8, 32773, 32946])  # none, LZW, Deflate, PackBits, old Deflate


def _gray_alpha_tiff(data: bytes) -> tuple[bytes | None, str | None]:
    """For a gray+alpha TIFF, the bytes OpenCV can read with the alpha kept, or a warning why not.

    OpenCV reads a 2-sample TIFF as gray and drops the alpha. Declared as a
    1-sample gray image twice as wide, the same strips decode to gray and
    alpha interleaved (G, A, G, A, ...) in the file's own sample format. That
    holds for strips compressed as a byte stream without a predictor, stored
    interleaved; other layouts are read as OpenCV reads them, with a warning.
    Returns ``(None, None)`` for any other TIFF.
    """
    try:
        order = "<" if data[:2] == b"II" else ">"
        (ifd,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
        entries = {}
        for i in range(count):
            at = ifd + 2 + 12 * i
            tag, kind, n = struct.unpack(order + "HHI", data[at : at + 8])
            first = struct.unpack(
                order + ("H" if kind == 3 else "I"), data[at + 8 : at + 10 if kind == 3 else at + 12]
            )[0]
            entries[tag] = (at, kind, n, first)
    except (struct.error, IndexError):
        return None, None
    value = {tag: entry[3] for tag, entry in entries.items()}
    if value.get(277) != 2 or value.get(262) not in (0, 1) or value.get(338) not in (1, 2) or 256 not in entries:
        return None, None  # not gray + one alpha sample
    width_at, width_kind, _, width = entries[256]
    compression = value.get(259, 1)
    if 322 in entries:
        how = "in tiles"
    elif value.get(284, 1) != 1:
        how = "in separate planes"
    elif value.get(317, 1) != 1:
        how = "with a predictor"
    elif compression not in _BYTE_STREAM_COMPRESSIONS:
        how = f"with compression {compression}"
    elif width_kind == 3 and 2 * width > 0xFFFF:
        how = "this wide"
    else:
        wide = bytearray(data)
        struct.pack_into(order + ("H" if width_kind == 3 else "I"), wide, width_at + 8, 2 * width)
        struct.pack_into(order + "H", wide, entries[277][0] + 8, 1)  # samples per pixel
        struct.pack_into(order + "I", wide, entries[338][0] + 4, 0)  # no extra samples
        return bytes(wide), None
    return None, f"gray+alpha TIFF stored {how}: OpenCV reads it only as 8-bit gray, the alpha dropped"


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


# The most bytes one pixel takes in a file OpenCV reads: 32, a float64 RGBA
# TIFF stored uncompressed (4 samples of 8 bytes), the widest sample layout
# it decodes. The rest stay below that even at their worst: PFM and
# uncompressed EXR 16 (float32 RGBA), 16-bit RGBA PNM/PAM/PNG 8 (PNG's
# deflate "stored" blocks add 5 bytes per 64 KiB), ASCII PPM about 18
# ("65535 " per sample), JPEG of pure noise at quality 100 under 5
# (measured: 4.1 for 4:4:4 RGB, 4.8 for CMYK).
MAX_BYTES_PER_PIXEL = 32
# Everything besides the pixels: EXIF, XMP and ICC blocks, thumbnails, PNG
# text chunks, padding. Real files carry a few MB at most.
METADATA_SLACK = 64 << 20
#: Bytes read first, before anything else, to refuse what is not an image.
HEAD_BYTES = 4096
_CHUNK = 8 << 20


def max_file_bytes(max_pixels: int) -> int | None:
    """The most bytes a file holding one image of ``max_pixels`` pixels can take (None: no limit).

    ``32 * max_pixels + 64 MiB``: 32 bytes per pixel is the widest sample
    layout OpenCV decodes (float64 RGBA, uncompressed), the 64 MiB room for
    metadata. A multi-frame file counts whole, though only its first frame
    is read.

    >>> max_file_bytes(1_000_000), max_file_bytes(0)
    (99108864, None)
    """
    return MAX_BYTES_PER_PIXEL * max_pixels + METADATA_SLACK if max_pixels else None


def read_bytes(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of an image file, read with limits; OS errors as one-line :class:`ImageReadError`.

    Only a regular file is opened (a FIFO, socket or device would block or
    never end). Its first :data:`HEAD_BYTES` are read first, and a file
    whose magic bytes are no image format OpenCV reads is refused at once.
    A file larger than :func:`max_file_bytes` (``max_pixels``) is refused
    from its size, without reading it; reading also stops there should the
    file grow meanwhile.

    Raises
    ------
    ImageReadError
        Missing, unreadable, not a regular file, empty, or not an image.
    FileTooLargeError
        More bytes than an image of ``max_pixels`` pixels can take.
    """
    if is_url(path):  # s3://... and the like: through fsspec
        from .storage import read_bytes as read_url

        return read_url(str(path))
    p = Path(path)
    try:
        info = os.stat(p)  # before opening: opening a FIFO blocks, opening a device can act
    except OSError as exc:
        raise _os_read_error(exc, p, path) from None
    _check_regular(info.st_mode, path)
    limit = max_file_bytes(max_pixels)
    if limit is not None and info.st_size > limit:
        raise FileTooLargeError(info.st_size, limit, max_pixels, path=path)
    # O_NONBLOCK: should a FIFO have been put in its place since, opening it does not block
    nonblock = getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(p, os.O_RDONLY | nonblock | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _os_read_error(exc, p, path) from None
    with open(fd, "rb", buffering=0) as fh:
        try:
            _check_regular(os.fstat(fd).st_mode, path)
            if nonblock:
                os.set_blocking(fd, True)
            return _read_limited(fh, limit, max_pixels, name=str(path))
        except OSError as exc:
            raise _os_read_error(exc, p, path) from None


def read_stream(stream: IO[bytes] | io.RawIOBase | io.BufferedIOBase, max_pixels: int = DEFAULT_MAX_PIXELS, *,
                name: str = "-") -> bytes:  # fmt: skip
    """The bytes of one image from a binary stream (standard input), read with the limits of :func:`read_bytes`.

    The first :data:`HEAD_BYTES` are read first: a stream whose magic bytes
    are no image format is refused without reading on. Reading stops after
    :func:`max_file_bytes` (``max_pixels``) bytes, so an endless stream is
    refused with bounded memory. ``name`` is for messages.

    Raises
    ------
    ImageReadError
        Empty, not an image, or a read error.
    FileTooLargeError
        More bytes than an image of ``max_pixels`` pixels can take.
    """
    try:
        return _read_limited(stream, max_file_bytes(max_pixels), max_pixels, name=name)
    except OSError as exc:
        raise ImageReadError(exc.strerror or str(exc), path=name) from None


def _read_limited(stream: IO[bytes] | io.RawIOBase | io.BufferedIOBase, limit: int | None, max_pixels: int, *,
                  name: str) -> bytes:  # fmt: skip
    """The head, checked, then the rest up to ``limit`` bytes (None: all)."""
    head = _read_up_to(stream, HEAD_BYTES)
    if not head:
        raise ImageReadError("empty file", path=name)
    if not looks_like_image(head):
        raise ImageReadError("not a recognised image format", path=name)
    out = io.BytesIO()
    out.write(head)
    total = len(head)
    while True:
        block = stream.read(_CHUNK if limit is None else min(_CHUNK, limit + 1 - total))
        if not block:
            break
        total += len(block)
        if limit is not None and total > limit:
            raise FileTooLargeError(None, limit, max_pixels, path=name)
        out.write(block)
    return out.getvalue()


def _read_up_to(stream: IO[bytes] | io.RawIOBase | io.BufferedIOBase, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the stream (a pipe hands them over in pieces)."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        block = stream.read(size - got)
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _check_regular(mode: int, path: str | Path) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise ImageReadError("is a directory", path=path)
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
    raise ImageReadError(f"not a regular file ({kind})", path=path)


def _os_read_error(exc: OSError, p: Path, path: str | Path) -> ImageReadError:
    if isinstance(exc, FileNotFoundError):
        return ImageReadError("dangling symbolic link" if p.is_symlink() else "not found", path=path)
    if isinstance(exc, IsADirectoryError):
        return ImageReadError("is a directory", path=path)
    if isinstance(exc, PermissionError):
        return ImageReadError("permission denied", path=path)
    if exc.errno == errno.ELOOP:
        return ImageReadError("symbolic link loop", path=path)
    return ImageReadError(exc.strerror or str(exc), path=path)


#: JPEG quality when none is asked for (OpenCV's and libjpeg's usual high setting).
DEFAULT_JPEG_QUALITY = 95
_QUALITY_SUFFIXES = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".webp": "WebP"}


def check_quality(quality: int | None) -> int | None:
    """Return ``quality`` if it is None or an integer 1..100; :class:`ParameterError` otherwise."""
    if quality is None:
        return None
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ParameterError("quality", quality, "must be an integer from 1 to 100")
    return int(quality)


def encode_image(
    path: str | Path, image: np.ndarray, *, png_compression: int | None = None, quality: int | None = None
) -> bytes:
    """Encode ``image`` (RGB(A)) in the format ``path``'s extension selects.

    Parameters
    ----------
    path : path-like
        Only its extension is used.
    image : ndarray of shape (H, W) or (H, W, C)
        RGB(A); its dtype and channels must fit the format (:func:`check_format`).
    png_compression : int, optional
        0..9, trading time for size in PNG files; OpenCV's default is fast,
        fine for pooled images, large for figures.
    quality : int, optional
        1..100 for JPEG and WebP (lossy); ignored by the other formats, which
        are lossless. None: JPEG at :data:`DEFAULT_JPEG_QUALITY` (95), WebP
        lossless (OpenCV's default for WebP), so pooled values survive exactly.

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    ParameterError
        ``quality`` is not an integer from 1 to 100.
    FormatError
        The format cannot hold the image's samples or channels.
    WriteError
        OpenCV failed to encode it.
    """
    quality = check_quality(quality)
    cv2 = _cv2()
    check_format(path, image)
    if not image.dtype.isnative:  # OpenCV would take byte-swapped samples for native ones
        image = image.astype(image.dtype.newbyteorder("="))
    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression] if png_compression is not None and suffix == ".png" else []
    kind = _QUALITY_SUFFIXES.get(suffix)
    if kind == "JPEG":
        params += [cv2.IMWRITE_JPEG_QUALITY, DEFAULT_JPEG_QUALITY if quality is None else quality]
    elif kind == "WebP" and quality is not None:
        params += [cv2.IMWRITE_WEBP_QUALITY, quality]
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
    :func:`prepare_output`). Missing folders are created. ``quality`` (1..100)
    sets JPEG and WebP compression; None is JPEG quality 95 and lossless
    WebP (see :func:`encode_image`).

    Raises
    ------
    ParameterError
        ``quality`` is not an integer from 1 to 100 (checked before anything is written).
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    FormatError
        The format cannot hold the (converted) image.
    WriteError
        Encoding or writing failed; an existing file at ``path`` is untouched.
    """
    check_quality(quality)
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
    target = np.dtype(np.uint8) if depth == 8 else np.dtype(np.uint16) if depth == 16 else None
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
        return image.astype(np.uint16) * np.uint16(257)
    raise FormatError(f"no {depth}-bit mapping for {image.dtype.name} samples (only uint8, uint16 and float)")


def write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename).

    Without ``overwrite`` an existing file is never replaced, even one that
    appears while the data is being written. A URL (``s3://...``) is written
    through fsspec in one PUT (:func:`poolcli.storage.write_bytes`). The temporary file sits in the
    target's folder as ``.<random>.poolcli-tmp`` (``paths.TEMP_SUFFIX``),
    whatever the target's name.

    Raises
    ------
    OutputPathError
        ``path`` is a directory.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    WriteError
        The name is longer than the file system allows (NAME_MAX, 255 bytes
        on most), or creating the folder, writing or renaming failed; an
        existing file at ``path`` is untouched.
    """
    if is_url(path):  # an object store: one PUT, whole or not at all
        from .storage import write_bytes as write_url

        return write_url(str(path), data, overwrite=overwrite)  # type: ignore[return-value]
    return write_chunks(path, (data,), overwrite)


def write_chunks(path: str | Path, chunks: Iterable[bytes], overwrite: bool = False) -> Path:
    """:func:`write_bytes` for data that arrives in pieces (a page too large to hold in memory)."""
    target = Path(path)
    name_bytes, name_max = len(os.fsencode(target.name)), _name_max(target.parent)
    if name_bytes > name_max:
        raise WriteError(f"file name too long ({name_bytes} bytes, the limit is {name_max})", path=path)
    if os.path.isdir(target):
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
        # a short name of its own (".pc<host>-<pid>-k2x9q_4a.poolcli-tmp"), whatever the target's length:
        # one built from the target's name could pass NAME_MAX; the host and process let a later run tell
        # an interrupted run's leftovers from a running one's (paths.remove_stale_temporaries)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(), suffix=TEMP_SUFFIX)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
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


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) the file system under ``folder`` takes; 255 if it cannot say."""
    for place in (folder, *folder.parents):
        try:
            return os.pathconf(place, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):  # missing folder; no pathconf (Windows)
            continue
    return 255


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


# Sample formats cv2.cvtColor converts; others (float64, int32, int8 ...) are reordered by NumPy.
_CVT_DTYPES = frozenset(["uint8", "uint16", "float32"])


def _to_rgb(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()

    if image.ndim == 3 and image.shape[2] in (3, 4) and image.dtype.name not in _CVT_DTYPES:
        return image[..., [2, 1, 0, 3][: image.shape[2]]]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return image


def _to_bgr(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()

    if image.ndim == 3 and image.shape[2] in (3, 4) and image.dtype.name not in _CVT_DTYPES:
        return np.ascontiguousarray(image[..., [2, 1, 0, 3][: image.shape[2]]])
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

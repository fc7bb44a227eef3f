"""What an image file's bytes say before anything decodes them.

OpenCV's decoders answer a damaged or hostile file with ``None``, a grey-filled
picture or a 2 GB allocation. This module reads the container structure in
pure Python (no OpenCV, no NumPy) so poolcli can decide first: the format, the
declared size (to refuse decompression bombs without allocating them), the
number of frames, and whether the file is cut short or damaged.

Formats read here: PNG (and APNG), JPEG, GIF, BMP, WebP, TIFF, PNM/PAM/PFM.
Others (EXR, HDR, JPEG 2000, ...) are left to OpenCV and its own pixel cap.
Everything here is a pure function of the bytes, so it is safe to call from
several threads.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Header:
    """The facts read from a file's structure.

    Attributes
    ----------
    format : str
        ``"PNG"``, ``"JPEG"``, ``"GIF"``, ``"BMP"``, ``"WebP"``, ``"TIFF"`` or ``"PNM"``.
    width, height : int or None
        The declared size in pixels; None when the header does not say (or is
        itself damaged, then ``problem`` says so).
    frames : int
        Frames or pages in the file (1 for a still image).
    problem : str or None
        Structural damage found, in words; None for a sound file.
    truncated : bool
        The file ends early, after some image data: the part that is there
        could still be decoded (poolcli does so for JPEG when asked).
    recoverable : bool
        The decoder is known to resynchronise past the damage (JPEG restart
        markers), so a picture can still be decoded, partly wrong.
    sample : str or None
        The declared sample format where the header says it (TIFF:
        ``"uint8"``, ``"float16"``, ...), to explain a file OpenCV refuses.
    orientation : int
        The EXIF orientation (1..8) of JPEG, PNG, WebP and TIFF files; 1 when
        the file has none.
    frames_exact : bool
        False when counting stopped at a bound (:data:`MAX_COUNTED_FRAMES`
        TIFF pages): the file has at least ``frames`` frames.
    """

    format: str
    width: int | None = None
    height: int | None = None
    frames: int = 1
    problem: str | None = None
    truncated: bool = False
    recoverable: bool = False
    sample: str | None = None
    orientation: int = 1
    frames_exact: bool = True

    @property
    def pixels(self) -> int | None:
        """``width * height``, or None when the size is unknown."""
        if self.width is None or self.height is None:
            return None
        return self.width * self.height


#: The default cap on declared pixels, Pillow's MAX_IMAGE_PIXELS: a 9459 x 9459
#: picture, 256 MiB as 8-bit RGB. Larger than any camera's, far smaller than
#: what a hostile header can declare.
DEFAULT_MAX_PIXELS = 89_478_485

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BMP_HEADER_SIZES = frozenset(struct.pack("<I", n) for n in (12, 40, 52, 56, 64, 108, 124))
# "P5", then width and height as digits (comments allowed between), or a PAM header.
_PNM_MAGIC = re.compile(rb"P(?:[1-6Ff]\s(?:\s|#[^\n\r]*)*\d+\s(?:\s|#[^\n\r]*)*\d|7\s)")


#: Leading bytes of the formats OpenCV reads (BMP, PNM and AVIF are checked apart: their
#: magic is short or not at the start).
SIGNATURES: tuple[bytes, ...] = (
    PNG_SIGNATURE,
    b"\xff\xd8\xff",  # JPEG
    b"II*\x00",  # TIFF, little- and big-endian, and BigTIFF
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",
    b"GIF87a",
    b"GIF89a",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 file
    b"\xffO\xffQ",  # JPEG 2000 codestream
    b"v/1\x01",  # OpenEXR
    b"#?RADIANCE",
    b"#?RGBE",
    b"\x59\xa6\x6a\x95",  # Sun raster
)
#: How many leading bytes :func:`looks_like_image` needs.
SNIFF_BYTES = 32
_AVIF_BRANDS = (b"avif", b"avis")


def looks_like_image(head: bytes) -> bool:
    """Whether a file's first bytes (:data:`SNIFF_BYTES` of them) are those of an image format OpenCV reads.

    Wider than :func:`sniff_format`: it also knows the formats only OpenCV
    reads (JPEG 2000, OpenEXR, Radiance HDR, Sun raster, AVIF).

    >>> looks_like_image(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24)), looks_like_image(b"hello")
    (True, False)
    """
    if head.startswith(SIGNATURES):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[:2] == b"BM" and len(head) >= 18:
        return head[14:18] in _BMP_HEADER_SIZES
    if head[4:8] == b"ftyp":  # ISO media file: AVIF when its major or a compatible brand says so
        brands = head[8:SNIFF_BYTES]
        return any(brands[i : i + 4] in _AVIF_BRANDS for i in range(0, len(brands) - 3, 4))
    # PBM/PGM/PPM/PAM (P1..P7) and PFM (PF, Pf), then whitespace
    return len(head) >= 3 and head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"F", b"f") and head[2:3].isspace()  # fmt: skip


def sniff_format(data: bytes) -> str | None:
    """The format the magic bytes announce, or None when this module does not read it."""
    if data[:8] == PNG_SIGNATURE:
        return "PNG"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM" and data[14:18] in _BMP_HEADER_SIZES:
        return "BMP"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if _PNM_MAGIC.match(data[:1024]):  # bounded: comments make the pattern backtrack
        return "PNM"
    return None


def probe(data: bytes) -> Header | None:
    """Read format, size, frames and damage from ``data``; None for formats not read here.

    Never raises on malformed input: a header that cannot be read comes back
    with ``width`` None and a ``problem``.

    >>> header = probe(b"GIF89a\\x03\\x00\\x02\\x00\\x00\\x00\\x00;")
    >>> header.format, header.width, header.height, header.problem
    ('GIF', 3, 2, None)
    """
    fmt = sniff_format(data)
    if fmt is None:
        return None
    reader = _READERS[fmt]
    try:
        return reader(data)
    except (struct.error, LookupError, ValueError):
        return Header(fmt, problem="the header is cut short or damaged")


# --- PNG --------------------------------------------------------------------------------------


def _png(data: bytes) -> Header:
    view = memoryview(data)
    n = len(data)
    pos = 8
    width = height = None
    frames = 1
    orientation = 1
    seen_idat = False
    while True:
        if pos + 8 > n:
            return Header("PNG", width, height, frames, "the file ends before the IEND chunk", truncated=True)
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        if not kind.isalpha() or length > 0x7FFFFFFF:
            return Header("PNG", width, height, frames, f"damaged chunk header at byte {pos}")
        end = pos + 12 + length
        name = kind.decode("ascii")
        if end > n:
            return Header("PNG", width, height, frames, f"the {name} chunk is cut short", truncated=True)
        (crc,) = struct.unpack(">I", view[end - 4 : end])
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            return Header("PNG", width, height, frames, f"CRC error in the {name} chunk")
        if pos == 8:
            if kind != b"IHDR" or length != 13:
                return Header("PNG", problem="the first chunk is not IHDR")
            width, height = struct.unpack(">II", view[16:24])
            if width == 0 or height == 0:
                return Header("PNG", width, height, problem="IHDR declares a zero width or height")
        elif kind == b"acTL" and length >= 4:
            (frames,) = struct.unpack(">I", view[pos + 8 : pos + 12])
            frames = max(frames, 1)
        elif kind == b"eXIf" and not seen_idat:
            orientation = tiff_orientation(bytes(view[pos + 8 : end - 4]))
        elif kind == b"IDAT":
            seen_idat = True
        elif kind == b"IEND":
            break
        pos = end
    if not seen_idat:
        return Header("PNG", width, height, frames, "no image data (IDAT chunk)")
    return Header("PNG", width, height, frames, orientation=orientation)


# --- JPEG -------------------------------------------------------------------------------------

# A marker inside entropy-coded data: 0xFF and a byte that is neither 0x00 (a
# stuffed 0xFF) nor 0xFF (fill). A literal first byte lets the regex engine
# skip ahead in C; "\xff+" would not, and is 18 times slower on a 6 MB JPEG.
_MARKER = re.compile(rb"\xff([^\x00\xff])")
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])


@dataclass
class _Frame:
    width: int = 0
    height: int = 0
    sampling: dict[int, tuple[int, int]] | None = None

    def mcus(self, components: list[int]) -> int | None:
        """MCUs in a scan over ``components`` (None when the frame is not known)."""
        if not self.sampling or not self.width or not self.height:
            return None
        hmax = max(h for h, _ in self.sampling.values())
        vmax = max(v for _, v in self.sampling.values())
        if len(components) == 1:
            h, v = self.sampling.get(components[0], (hmax, vmax))
            cols = -(-self.width * h // hmax)
            rows = -(-self.height * v // vmax)
            return -(-cols // 8) * -(-rows // 8)
        return -(-self.width // (8 * hmax)) * -(-self.height // (8 * vmax))


def _jpeg(data: bytes) -> Header:
    exif: list[int] = []
    header = _jpeg_walk(data, exif)
    return replace(header, orientation=exif[0]) if exif else header


def _jpeg_walk(data: bytes, exif: list[int]) -> Header:
    """The JPEG's structure; the first APP1 Exif segment's orientation goes into ``exif``."""
    n = len(data)
    frame = _Frame()
    restart = 0
    damage: list[str] = []
    seen_scan = False
    pos = 2
    while True:
        if pos >= n:
            return _jpeg_header(frame, damage, "the file ends before the end-of-image marker", truncated=seen_scan)
        if data[pos] != 0xFF:
            found = _MARKER.search(data, pos)
            if found is None:
                return _jpeg_header(frame, damage, "the file ends before the end-of-image marker", truncated=seen_scan)
            damage.append(f"{found.start() - pos} stray bytes before a marker")
            pos = found.start()
            continue
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 1 >= n:
            return _jpeg_header(frame, damage, "the file ends before the end-of-image marker", truncated=seen_scan)
        marker = data[pos + 1]
        if marker == 0xD9:
            if not seen_scan:
                return _jpeg_header(frame, damage, "no image data (no scan before the end-of-image marker)")
            return _jpeg_header(frame, damage, None)
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0x00, 0xD8):
            return _jpeg_header(frame, damage, f"unexpected marker 0xFF{marker:02X} at byte {pos}")
        if pos + 4 > n:
            return _jpeg_header(frame, damage, "the file ends inside a header segment", truncated=seen_scan)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return _jpeg_header(frame, damage, f"segment 0xFF{marker:02X} has a bad length")
        body = data[pos + 4 : pos + 2 + length]
        if pos + 2 + length > n:
            return _jpeg_header(frame, damage, "the file ends inside a header segment", truncated=seen_scan)
        if marker in _SOF:
            height, width, count = struct.unpack(">HHB", body[1:6])
            sampling = {body[6 + 3 * i]: (body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15) for i in range(count)}
            if width == 0 or any(h == 0 or v == 0 for h, v in sampling.values()):
                return _jpeg_header(frame, damage, "the frame header declares a zero width or sampling factor")
            frame = _Frame(width, height, sampling)
        elif marker == 0xDD:
            (restart,) = struct.unpack(">H", body[:2])
        elif marker == 0xE1 and not exif and body[:6] == b"Exif\x00\x00":
            exif.append(tiff_orientation(body[6:]))
        pos += 2 + length
        if marker != 0xDA:
            continue
        seen_scan = True
        components = [body[1 + 2 * i] for i in range(body[0])]
        after, problem = _scan(data, pos, restart, frame.mcus(components))
        if problem is not None:
            damage.append(problem)
        if after is None:
            return _jpeg_header(frame, damage, "the image data stops before the end-of-image marker", truncated=True)
        pos = after


def _scan(data: bytes, pos: int, restart: int, mcus: int | None) -> tuple[int | None, str | None]:
    """Walk one scan's entropy-coded data; return where the next marker starts and any damage."""
    seen = 0
    out_of_order = None
    while True:
        found = _MARKER.search(data, pos)
        if found is None:
            return None, None
        marker = found.group(1)[0]
        if 0xD0 <= marker <= 0xD7:
            if out_of_order is None and marker - 0xD0 != seen % 8:
                out_of_order = seen
            seen += 1
            pos = found.end()
            continue
        expected = -(-mcus // restart) - 1 if restart and mcus is not None else None
        if expected is not None and seen < expected:
            return found.end() - 2, f"{expected - seen} restart interval(s) lost or damaged in the image data"
        if out_of_order is not None:
            return found.end() - 2, f"restart markers out of sequence from number {out_of_order}"
        return found.end() - 2, None


def _jpeg_header(frame: _Frame, damage: list[str], fatal: str | None, *, truncated: bool = False) -> Header:
    width = frame.width or None
    height = frame.height or None
    if fatal is not None:
        return Header("JPEG", width, height, problem=fatal, truncated=truncated)
    if damage:
        return Header("JPEG", width, height, problem="; ".join(damage), recoverable=True)
    return Header("JPEG", width, height)


# --- GIF --------------------------------------------------------------------------------------


def _gif(data: bytes) -> Header:
    width, height, flags = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    n = len(data)
    while pos < n:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x2C:  # image descriptor
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
        elif block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        else:
            return Header("GIF", width, height, max(frames, 1), f"unexpected block 0x{block:02X} at byte {pos}")
        while True:
            size = data[pos]  # IndexError here: cut inside a block
            pos += 1 + size
            if size == 0:
                break
        if pos > n:
            raise IndexError
        frames += block == 0x2C
    return Header("GIF", width, height, frames)


# --- BMP, WebP, TIFF, PNM -------------------------------------------------------------------------


def _bmp(data: bytes) -> Header:
    (dib,) = struct.unpack("<I", data[14:18])
    if dib == 12:
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    height = abs(height)  # negative: stored top-down
    if width <= 0 or height == 0:
        return Header("BMP", problem="the header declares a zero or negative size")
    return Header("BMP", width, height)


def _webp(data: bytes) -> Header:
    kind = data[12:16]
    payload = data[20:]
    if kind == b"VP8 ":
        if payload[3:6] != b"\x9d\x01\x2a":
            raise ValueError("no VP8 start code")
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", payload[6:10]))
        return Header("WebP", width, height)
    if kind == b"VP8L":
        if payload[0] != 0x2F:
            raise ValueError("no VP8L signature")
        (bits,) = struct.unpack("<I", payload[1:5])
        return Header("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":
        width = int.from_bytes(payload[4:7], "little") + 1
        height = int.from_bytes(payload[7:10], "little") + 1
        frames, orientation, pos = 0, 1, 12
        while pos + 8 <= len(data):
            chunk, size = struct.unpack("<4sI", data[pos : pos + 8])
            frames += chunk == b"ANMF"
            if chunk == b"EXIF":
                body = data[pos + 8 : pos + 8 + size]
                orientation = tiff_orientation(body[6:] if body.startswith(b"Exif\x00\x00") else body)
            pos += 8 + size + (size & 1)
        return Header("WebP", width, height, max(frames, 1), orientation=orientation)
    raise ValueError("unknown WebP chunk")


#: TIFF pages are counted up to this many; a longer chain (or a hostile loop of
#: fresh offsets) is reported as "at least" this many frames.
MAX_COUNTED_FRAMES = 100_000


def _tiff(data: bytes) -> Header:
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    width = height = None
    bits, kind_of_sample = 8, 1
    frames = 0
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < MAX_COUNTED_FRAMES:
        seen.add(offset)
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        if frames == 0:
            for i in range(count):
                entry = data[offset + 2 + 12 * i : offset + 14 + 12 * i]
                tag, kind, values = struct.unpack(order + "HHI", entry[:8])
                if tag not in (256, 257, 258, 339) or kind not in (3, 4):
                    continue
                size = 2 if kind == 3 else 4
                # the first value sits in the entry, or at an offset when all of them do not fit
                at = offset + 10 + 12 * i if size * values <= 4 else struct.unpack(order + "I", entry[8:12])[0]
                (value,) = struct.unpack(order + ("H" if kind == 3 else "I"), data[at : at + size])
                if tag == 256:
                    width = value
                elif tag == 257:
                    height = value
                elif tag == 258:
                    bits = value  # per channel; all channels alike in practice
                else:
                    kind_of_sample = value
        frames += 1
        next_at = offset + 2 + 12 * count
        if next_at + 4 > len(data):
            break  # a damaged chain after the first page: OpenCV reads the first page anyway
        (offset,) = struct.unpack(order + "I", data[next_at : next_at + 4])
    kind = {1: "uint", 2: "int", 3: "float"}.get(kind_of_sample)
    sample = f"{kind}{bits}" if kind else f"{bits}-bit samples of unknown kind {kind_of_sample}"
    # the loop stopped at the bound with a next page still announced: there are more
    exact = not (frames >= MAX_COUNTED_FRAMES and offset and offset not in seen)
    return Header(
        "TIFF", width, height, max(frames, 1), sample=sample, frames_exact=exact, orientation=tiff_orientation(data)
    )


_PNM_TOKEN = re.compile(rb"#[^\n\r]*|\S+")


def _pnm(data: bytes) -> Header:
    head = data[:4096]
    if head[1:2] == b"7":  # PAM: WIDTH and HEIGHT lines
        fields = dict(re.findall(rb"^(WIDTH|HEIGHT)\s+(\d+)", head, re.M))
        return Header("PNM", int(fields[b"WIDTH"]), int(fields[b"HEIGHT"]))
    tokens = [t for t in _PNM_TOKEN.findall(head[2:]) if not t.startswith(b"#")]
    width, height = int(tokens[0]), int(tokens[1])
    if width <= 0 or height <= 0:
        return Header("PNM", problem="the header declares a zero or negative size")
    return Header("PNM", width, height)


_READERS = {"PNG": _png, "JPEG": _jpeg, "GIF": _gif, "BMP": _bmp, "WebP": _webp, "TIFF": _tiff, "PNM": _pnm}


# --- EXIF orientation -----------------------------------------------------------------------------


def tiff_orientation(tiff: bytes) -> int:
    """The orientation tag (1..8) of the first IFD of TIFF-structured bytes (EXIF); 1 if none.

    >>> tiff_orientation(b"II*\\x00\\x08\\x00\\x00\\x00\\x01\\x00\\x12\\x01\\x03\\x00\\x01\\x00\\x00\\x00\\x06\\x00\\x00\\x00")
    6
    """
    try:
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
    except (struct.error, IndexError, ValueError):
        return 1
    return 1

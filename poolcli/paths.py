"""Where results go: output names, and the checks an output path must pass.

Pure path logic: no image is opened here.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
import zlib
from pathlib import Path

from .errors import OutputPathError
from .storage import AnyPath, as_path, is_url

#: Extensions treated as images when a folder is listed.
IMAGE_EXTENSIONS = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".tif",
        ".tiff",
        ".webp",
        ".bmp",
        ".dib",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".gif",
        ".jp2",
        ".exr",
        ".hdr",
        ".pic",
        ".sr",
        ".ras",
    ]
)

#: The suffix every temporary file poolcli writes ends with.
TEMP_SUFFIX = ".poolcli-tmp"

#: ``-`` as an input is standard input; as an output, standard output.
STDIO = "-"

#: What a figure's file name ends with, after its image's stem.
FIGURE_SUFFIX = ".compare.png"


def default_extension(source: AnyPath, fmt: str | None) -> str:
    """The output extension: ``fmt`` if given, else the source's, else ``.png``."""
    from .image_io import FORMATS

    if fmt:
        ext = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
        if ext not in FORMATS:
            raise OutputPathError(f"unknown output format {fmt!r} (use one of {', '.join(sorted(FORMATS))})")
        return ext
    ext = source.suffix.lower()
    return ext if ext in FORMATS else ".png"


def output_name(source: AnyPath, tag: str, fmt: str | None = None) -> str:
    """``<stem>.<tag><ext>``, e.g. ``photo.max-k2-s2.jpg``."""
    return f"{source.stem}.{tag}{default_extension(source, fmt)}"


def is_folder(output: str) -> bool:
    """Whether an ``-o`` value names a folder: it ends in ``/`` or is an existing folder (or URL prefix)."""
    # os.path for a local path: a name too long to exist is not an error here (the write reports it)
    return output.endswith(("/", os.sep)) or (as_path(output).is_dir() if is_url(output) else os.path.isdir(output))


def figure_path(target: Path, where: str | None) -> Path:
    """Where a ``--compare`` figure of ``target`` goes.

    ``where`` is None (beside the image, as ``<image stem>.compare.png``), a
    folder (existing, or ending in ``/``) or a ``.png`` file.
    """
    name = target.stem + FIGURE_SUFFIX
    if where is None:
        return target.parent / name
    if is_folder(where):
        return as_path(where) / name  # type: ignore[return-value]
    return as_path(where)  # type: ignore[return-value]


def check_figure_path(path: str | Path) -> None:
    """Refuse a figure path that is not a ``.png`` (figures are always PNG)."""
    if Path(path).suffix.lower() != ".png":
        raise OutputPathError("figures are written as PNG; give a name ending in .png", path=path)


def identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """The file's (device, inode), through links; None when there is no such file (or for a URL)."""
    if is_url(path):
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def check_not_input(source: Path, target: Path) -> None:
    """Refuse an output that is the input file (same path, link or inode)."""
    same = os.path.abspath(source) == os.path.abspath(target)
    if not same:
        found = identity(target)
        same = found is not None and found == identity(source)
    if not same:
        try:
            same = source.resolve() == target.resolve()
        except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a symlink loop
            same = False
    if same:
        raise OutputPathError("output is the input file itself; refusing to overwrite an input", path=target)


def check_folder_usable(target: AnyPath) -> None:
    """Refuse a target whose parent path runs through a regular file (object stores have no folders to check)."""
    if is_url(target):
        return
    for parent in [target.parent, *target.parent.parents]:
        # os.path, not Path: a name too long to exist is not an error here (the write reports it)
        if os.path.exists(parent):
            if not os.path.isdir(parent):
                raise OutputPathError("is a file, but a folder is needed here", path=parent)
            return


def name_too_long(path: Path) -> str | None:
    """Why ``path``'s file name cannot exist in its folder (over NAME_MAX), or None (always for a URL)."""
    if is_url(path):
        return None
    size = len(os.fsencode(path.name))
    limit = _name_max(path.parent)
    return f"file name too long ({size} bytes, the limit is {limit})" if size > limit else None


@functools.lru_cache(maxsize=1024)  # one question per output folder, not per file
def _name_max(folder: Path) -> int:
    for parent in [folder, *folder.parents]:
        try:
            return os.pathconf(parent, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):
            continue
    return 255


# --- temporary files ---------------------------------------------------------------------------------

_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
_TEMP_NAME = re.compile(rf"\.pc([0-9a-f]{{4}})-(\d+)-[0-9a-z_]+{re.escape(TEMP_SUFFIX)}")
#: A temporary file not recognisably from this machine is stale after this long.
STALE_SECONDS = 3600


def temp_prefix() -> str:
    """The start of this process's temporary file names: ``.pc<host>-<pid>-``.

    Short (whatever the final name's length), and telling a later run whose
    file it is, so only an interrupted run's leftovers are ever removed.
    """
    return f".pc{_HOST}-{os.getpid()}-"


def remove_stale_temporaries(folder: Path, *, before: float | None = None) -> int:
    """Remove temporary files an interrupted poolcli run left in ``folder``; return how many.

    A file is stale when it is older than this run (``before``, a
    ``time.time()``) and either names a process of this machine that no
    longer runs, or is more than :data:`STALE_SECONDS` old. A concurrent
    run's files are left alone.
    """
    now = time.time() if before is None else before
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith(TEMP_SUFFIX):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if age <= 0:
                continue
            match = _TEMP_NAME.fullmatch(entry.name)
            ours_dead = match is not None and match.group(1) == _HOST and not _alive(int(match.group(2)))
            if ours_dead or age > STALE_SECONDS:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once at import: ``os.umask`` is process-wide, and
#: files are written from worker threads. New files get ``0o666 & ~UMASK``.
UMASK = _read_umask()

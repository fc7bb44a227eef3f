"""Object storage: inputs and outputs named by fsspec URLs (``s3://``, ``gs://``, ``file://``, ...).

A path with a ``protocol://`` in front is a URL: it is listed, globbed,
checked, read and written through `fsspec <https://filesystem-spec.readthedocs.io>`_,
with whatever package that protocol needs (``s3fs`` for ``s3://``: ``pip
install 'poolcli[s3]'``). Credentials and endpoints follow fsspec's and the
backend's own conventions (``AWS_*`` variables or ``~/.aws`` for s3fs,
``FSSPEC_S3_ENDPOINT_URL`` and other ``FSSPEC_<PROTOCOL>_<OPTION>``
variables, fsspec's config files); poolcli adds none of its own.

Everything else is a local path and never comes here: local files keep the
code paths and guarantees of :mod:`poolcli.image_io` (temporary file and
rename, identity checks, stale temporaries). An object-store write is one
PUT, whole or absent by nature; a ``file://`` URL is written through the
local path's temporary-file-and-rename.

:class:`RemotePath` gives URLs the few pure-path operations planning uses
(``parent``, ``name``, ``/``, ``relative_to``, ...) so that
:mod:`poolcli.batch` names outputs the same way for both; it shows the URL
as the user typed it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any, Union

from .errors import ImageReadError, OutputExistsError, OutputPathError, StorageError, WriteError

_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*(?:::[A-Za-z][A-Za-z0-9+.\-]*)*)://(.*)", re.S)

#: Extras that bring a protocol's package, for the message when it is missing.
EXTRAS = {"s3": "s3", "s3a": "s3"}


def is_url(path: object) -> bool:
    """Whether ``path`` names a URL (``protocol://...``) rather than a local path."""
    if isinstance(path, RemotePath):
        return True
    return isinstance(path, str) and _URL.fullmatch(path) is not None


class RemotePath:
    """A URL as a pure path: ``s3://bucket/raw/a.jpg`` with ``parent``, ``name``, ``/`` and friends.

    Only the path after ``protocol://`` takes part in path arithmetic; the
    protocol stays. ``str()`` gives the URL back as typed (trailing slashes
    dropped). ``exists()`` and ``is_dir()`` ask the storage.
    """

    __slots__ = ("path", "protocol")
    protocol: str
    path: PurePosixPath

    def __init__(self, url: str | RemotePath, *, path: PurePosixPath | None = None) -> None:
        if isinstance(url, RemotePath):
            self.protocol, self.path = url.protocol, url.path if path is None else path
            return
        if path is not None:
            self.protocol, self.path = url, path
            return
        match = _URL.fullmatch(url)
        if match is None:
            raise ValueError(f"not a URL: {url!r}")
        self.protocol, self.path = match.group(1), PurePosixPath(match.group(2))

    def _with(self, path: PurePosixPath) -> RemotePath:
        return RemotePath(self.protocol, path=path)

    def __str__(self) -> str:
        text = str(self.path)
        return f"{self.protocol}://{'' if text == '.' else text}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __fspath__(self) -> str:  # for os.path.abspath in comparisons; never opened as a local file
        return str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and (self.protocol, self.path) == (other.protocol, other.path)

    def __hash__(self) -> int:
        return hash((self.protocol, self.path))

    def __lt__(self, other: RemotePath) -> bool:
        return (self.protocol, self.path) < (other.protocol, other.path)

    def __truediv__(self, other: str | PurePosixPath) -> RemotePath:
        return self._with(self.path / other)

    @property
    def parent(self) -> RemotePath:
        return self._with(self.path.parent)

    @property
    def parents(self) -> list[RemotePath]:
        return [self._with(p) for p in self.path.parents]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def suffix(self) -> str:
        return self.path.suffix

    @property
    def parts(self) -> tuple[str, ...]:
        return self.path.parts

    def with_name(self, name: str) -> RemotePath:
        return self._with(self.path.with_name(name))

    def with_suffix(self, suffix: str) -> RemotePath:
        return self._with(self.path.with_suffix(suffix))

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        """The plain relative path below ``other`` (it joins local folders and URLs alike)."""
        if not isinstance(other, RemotePath) or other.protocol != self.protocol:
            raise ValueError(f"{self} is not below {other}")
        return self.path.relative_to(other.path)

    def exists(self) -> bool:
        return exists(str(self))

    def is_dir(self) -> bool:
        return is_dir(str(self))


#: A local path or a URL as a path: what planning names inputs and outputs with.
AnyPath = Union[Path, RemotePath]


def as_path(text: str | Path | RemotePath) -> Path | RemotePath:
    """A :class:`RemotePath` for a URL, a :class:`~pathlib.Path` for anything else."""
    if isinstance(text, (Path, RemotePath)):
        return text
    return RemotePath(text) if is_url(text) else Path(text)


# --- talking to the storage ------------------------------------------------------------------------


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path it knows the object by.

    Raises
    ------
    StorageError
        fsspec does not know the protocol, or the package for it is not installed.
    """
    try:
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise StorageError("URLs need fsspec: pip install fsspec", path=url) from None
    try:
        return url_to_fs(url)
    except ImportError as exc:
        protocol = url.split("://", 1)[0].split("::")[-1]
        extra = EXTRAS.get(protocol)
        how = f"pip install 'poolcli[{extra}]'" if extra else str(exc)
        raise StorageError(f"{protocol}:// needs a package that is not installed ({how})", path=url) from None
    except ValueError as exc:
        raise StorageError(f"fsspec cannot open this URL: {exc}", path=url) from None


def _local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def exists(url: str) -> bool:
    """Whether an object or folder exists at ``url`` (asked afresh, not from a listing cache)."""
    fs, path = filesystem(url)
    fs.invalidate_cache(path)
    try:
        return bool(fs.exists(path))
    except OSError:
        return False


def is_dir(url: str) -> bool:
    """Whether ``url`` is a folder (for object stores: a prefix with objects below it)."""
    fs, path = filesystem(url)
    fs.invalidate_cache(path)
    try:
        return bool(fs.isdir(path))
    except OSError:
        return False


def list_folder(folder: RemotePath) -> list[tuple[RemotePath, bool]]:
    """The entries of ``folder``, sorted by name: (path, whether it is a folder).

    Raises
    ------
    OSError
        The folder cannot be listed (missing, no permission, the network).
    """
    fs, path = filesystem(str(folder))
    fs.invalidate_cache(path)
    entries = []
    for entry in fs.ls(path, detail=True):
        name = posixpath.basename(entry["name"].rstrip("/"))
        if not name or name in (".", ".."):
            continue
        entries.append((folder / name, entry.get("type") == "directory"))
    entries.sort(key=lambda e: e[0].name)
    return entries


def read_head(url: str, size: int) -> bytes:
    """The first ``size`` bytes of the object (b"" when it cannot be read)."""
    fs, path = filesystem(url)
    try:
        return bytes(fs.cat_file(path, start=0, end=size))
    except Exception:
        return b""


def read_bytes(url: str) -> bytes:
    """The object's bytes; failures become one-line :class:`ImageReadError` s.

    A missing object, a folder or a refusal is the file's own problem; any
    other error (the network, the service) keeps its :class:`OSError` as the
    cause, which marks it as passing (see :func:`poolcli.pipeline.passing`).
    """
    fs, path = filesystem(url)
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise ImageReadError("not found", path=url) from None
    except IsADirectoryError:
        raise ImageReadError("is a directory", path=url) from None
    except PermissionError:
        raise ImageReadError("permission denied", path=url) from None
    except OSError as exc:
        raise ImageReadError(f"read failed: {exc.strerror or exc}", path=url) from exc
    if not data:
        if fs.isdir(path):
            raise ImageReadError("is a directory", path=url)
        raise ImageReadError("empty file", path=url)
    return bytes(data)


def write_bytes(url: str, data: bytes, overwrite: bool = False) -> str:
    """Write ``data`` to the object at ``url`` in one PUT (whole or not at all); returns ``url``.

    Without ``overwrite`` an existing object is not replaced; the check and
    the PUT are two requests, so unlike a local write, an object that
    appears between them is replaced. A ``file://`` URL is written as a
    local path is (temporary file, then rename).
    """
    fs, path = filesystem(url)
    if _local(fs):
        from .image_io import write_bytes as write_local

        write_local(path, data, overwrite=overwrite)
        return url
    fs.invalidate_cache(path)
    try:
        if not overwrite:
            try:
                found = fs.info(path)
            except FileNotFoundError:
                found = None
            if found is not None:
                raise (
                    OutputPathError("is a directory", path=url)
                    if found.get("type") == "directory"
                    else OutputExistsError(url)
                )
        fs.pipe_file(path, data)
    except FileNotFoundError as exc:  # no such bucket: lasting, like a missing folder that cannot be made
        raise WriteError(f"write failed: {exc.strerror or exc}", path=url) from None
    except PermissionError:
        raise WriteError("write failed: permission denied", path=url) from None
    except OSError as exc:
        raise WriteError(f"write failed: {exc.strerror or exc}", path=url) from exc
    return url

"""Finding the inputs: the command line's files, folders and glob patterns, as image files.

Nothing is decoded here; a file in a folder is an image if its extension
says so or its first bytes do (:func:`poolcli.sniff.looks_like_image`).
Folders are walked lazily, so a tree of any size streams through. A URL
(``s3://bucket/raw/``) is found by the same rules, listed through fsspec
(:mod:`poolcli.storage`); its sources' paths are :class:`~poolcli.storage.RemotePath` s.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import ImageReadError, InputError, NoImagesAtTopError, NoImagesError
from .ops import OUTPUT_NAME
from .paths import IMAGE_EXTENSIONS, STDIO, TEMP_SUFFIX
from .sniff import SNIFF_BYTES, looks_like_image
from .storage import RemotePath, as_path, is_url, list_folder, read_head


@dataclass(frozen=True, slots=True)  # a plan holds one per input
class Source:
    """One input found on the command line.

    ``root`` is the folder (or the fixed start of a glob pattern) it was
    found under, whose tree an output folder mirrors; None for a file named
    as such. ``error`` is set for an input that failed before it could be
    read (an unreadable folder, a pattern that matches nothing, a dangling
    link named like an image).
    """

    path: Path | RemotePath
    root: Path | RemotePath | None = None
    error: InputError | None = None


def discover(
    inputs: Iterable[str],
    *,
    recursive: bool = False,
    follow_links: bool = False,
    own_tag: str | None = None,
    prune: Iterable[Any] = (),
) -> Iterator[Source]:
    """The image files the command line names, in a stable order.

    A named file is always yielded (it is read, and fails if it is not an
    image). A folder yields its image files, sorted by name: those with an
    image extension, and those whose first bytes say image whatever their
    name; subfolders only with ``recursive``. A glob pattern (``*``, ``?``,
    ``[...]``; ``**`` spans any number of folders) yields the image files it
    matches, found the same way. A dangling link named like an image is
    yielded with its error.

    Parameters
    ----------
    own_tag : str, optional
        The tag of this run's outputs: files found in folders named
        ``<stem>.<own_tag>.<ext>`` or like any other poolcli output
        (:func:`poolcli.ops.is_output_name`), and poolcli's temporary files,
        are skipped, so a run does not read earlier results.
    prune : paths
        Folders not to descend into (the output folder inside an input folder).
    follow_links : bool
        Descend into symbolic links to folders. Each folder is visited once
        either way, so a link loop ends.
    """
    own = _own_output_matcher(own_tag)
    prune = list(prune)
    pruned: set[Any] = {_folder_id(p) for p in prune if not is_url(p)} - {None}
    pruned |= {p for p in prune if isinstance(p, RemotePath)}
    for item in inputs:
        path = as_path(item)
        if item == STDIO:
            yield Source(Path(STDIO))
        elif (
            path.is_dir() if isinstance(path, RemotePath) else os.path.isdir(path)
        ):  # os.path: a name too long is no folder
            found = False
            for source in _walk(path, None if recursive else 0, follow_links, own, pruned):
                found = True
                yield source
            if not found:
                kind = NoImagesError if recursive else NoImagesAtTopError
                yield Source(path, error=kind("is a directory with no images in it", path=path))
        elif is_pattern(item) and not (path.exists() if isinstance(path, RemotePath) else os.path.lexists(path)):
            found = False
            for source in _walk_pattern(item, follow_links, own, pruned):
                found = True
                yield source
            if not found:
                yield Source(path, error=NoImagesError("no file matches this pattern", path=path))
        else:
            yield Source(path)


def is_pattern(text: str) -> bool:
    """Whether ``text`` has glob characters (``*``, ``?``, ``[``)."""
    return any(c in text for c in "*?[")


def _walk_pattern(pattern: str, follow_links: bool, own: re.Pattern[str] | None, pruned: set) -> Iterator[Source]:
    # glob.glob's "**" follows links to folders with no loop check; walk with ours instead
    path = as_path(pattern)
    parts = path.parts
    fixed = next((i for i, part in enumerate(parts) if is_pattern(part)), len(parts))
    root: Path | RemotePath = Path(*parts[:fixed]) if fixed else Path(".")
    if isinstance(path, RemotePath):
        root = RemotePath(path.protocol, path=PurePosixPath(*parts[:fixed]))
    rest = parts[fixed:]
    if not (root.is_dir() if isinstance(root, RemotePath) else os.path.isdir(root)):
        return
    depth = None if "**" in rest else len(rest) - 1
    for source in _walk(root, depth, follow_links, own, pruned):
        unreadable_folder = source.error is not None and not isinstance(source.error, ImageReadError)
        if unreadable_folder or _match_parts(source.path.relative_to(root).parts, rest):  # type: ignore[arg-type]
            yield source


def _match_parts(names: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    """Whether path components match pattern components (``**``: any number of folders).

    As in a shell, a wildcard does not match a name starting with a dot.
    """
    if not patterns:
        return not names
    if patterns[0] == "**":
        return any(_match_parts(names[i:], patterns[1:]) for i in range(len(names) + 1))
    if not names or (names[0].startswith(".") and not patterns[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], patterns[0]) and _match_parts(names[1:], patterns[1:])


def _walk(
    root: Path | RemotePath, depth: int | None, follow_links: bool, own: re.Pattern[str] | None, pruned: set
) -> Iterator[Source]:
    """Image files below ``root``, ``depth`` folders deep at most (None: all)."""
    if isinstance(root, RemotePath):
        yield from _walk_remote(root, depth, own, pruned)
        return
    seen: set[tuple[int, int] | None] = set()
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, level = stack.pop()
        try:
            ident = _folder_id(folder)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Source(folder, root, error=InputError(_os_reason(exc), path=folder))
            continue
        if ident in seen:  # reached again through a link: a loop, or a second way in
            continue
        seen.add(ident)
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=follow_links):
                    if (depth is None or level < depth) and _folder_id(path) not in pruned:
                        subfolders.append((path, level + 1))
                    continue
                if entry.is_symlink() and not os.path.exists(path):
                    if path.suffix.lower() in IMAGE_EXTENSIONS and not _skipped(path, own):
                        yield Source(path, root, error=ImageReadError("dangling symbolic link", path=path))
                    continue
                # sockets, FIFOs (reading one would block), unfollowed links to folders
                if not entry.is_file():
                    continue
            except OSError:
                continue
            if not _skipped(path, own) and _is_image(path):
                yield Source(path, root)
        stack.extend(reversed(subfolders))


def _walk_remote(root: RemotePath, depth: int | None, own: re.Pattern[str] | None, pruned: set) -> Iterator[Source]:
    """:func:`_walk` through fsspec: one listing per folder, in the same order (storage has no links)."""
    stack: list[tuple[RemotePath, int]] = [(root, 0)]
    while stack:
        folder, level = stack.pop()
        try:
            entries = list_folder(folder)
        except OSError as exc:
            yield Source(folder, root, error=InputError(_os_reason(exc), path=folder))
            continue
        subfolders = []
        for path, is_folder in entries:
            if is_folder:
                if (depth is None or level < depth) and path not in pruned:
                    subfolders.append((path, level + 1))
            elif not _skipped(path, own) and (
                path.suffix.lower() in IMAGE_EXTENSIONS or looks_like_image(read_head(str(path), SNIFF_BYTES))
            ):
                yield Source(path, root)
        stack.extend(reversed(subfolders))


def _skipped(path: Path | RemotePath, own: re.Pattern[str] | None) -> bool:
    name = path.name
    return name.endswith(TEMP_SUFFIX) or (own is not None and own.fullmatch(name) is not None)


def _is_image(path: Path) -> bool:
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            return looks_like_image(fh.read(SNIFF_BYTES))
    except OSError:
        return False


def _own_output_matcher(tag: str | None) -> re.Pattern[str]:
    if tag is None:
        return OUTPUT_NAME
    return re.compile(rf".+\.{re.escape(tag)}\.[A-Za-z0-9]+|{OUTPUT_NAME.pattern}")


def _folder_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()

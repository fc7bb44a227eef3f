"""Object storage: URLs as paths, and listing, globbing, reading and writing through fsspec (memory, file, S3)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from poolcli import storage
from poolcli.discover import discover
from poolcli.errors import ImageReadError, NoImagesError, OutputExistsError, StorageError
from poolcli.paths import TEMP_SUFFIX
from poolcli.storage import RemotePath, as_path, is_url

from .conftest import encode


@pytest.mark.parametrize(
    ("text", "url"),
    [("s3://bucket/a.png", True), ("file:///tmp/a.png", True), ("simplecache::s3://b/k", True),
     ("gs://b", True), ("a.png", False), ("/tmp/s3://x", False), ("C:/x.png", False), ("-", False)],
)  # fmt: skip
def test_a_url_is_a_protocol_and_a_double_slash(text, url):
    assert is_url(text) is url
    assert isinstance(as_path(text), RemotePath if url else Path)


def test_remote_paths_do_the_arithmetic_planning_needs_and_show_the_url_as_typed():
    photo = RemotePath("s3://bucket/raw/2024/a.jpg")
    assert str(photo) == "s3://bucket/raw/2024/a.jpg" and repr(photo) == "RemotePath('s3://bucket/raw/2024/a.jpg')"
    assert (photo.name, photo.stem, photo.suffix) == ("a.jpg", "a", ".jpg")
    assert photo.parent == RemotePath("s3://bucket/raw/2024") and str(photo.parent.parent) == "s3://bucket/raw"
    assert photo.with_name("a.max.png") == RemotePath("s3://bucket/raw/2024/a.max.png")
    assert photo.with_suffix(".png").suffix == ".png"
    below = photo.parent.relative_to(RemotePath("s3://bucket/raw/"))
    assert below == PurePosixPath("2024")  # a plain relative path: it joins local folders and URLs alike
    assert Path("small") / below / "a.png" == Path("small/2024/a.png")
    assert str(RemotePath("gs://out") / below / "a.png") == "gs://out/2024/a.png"
    assert (
        RemotePath("s3://b/x") != RemotePath("gs://b/x") and len({RemotePath("s3://b/x"), RemotePath("s3://b/x/")}) == 1
    )
    assert str(RemotePath("file:///tmp/a.png").parent) == "file:///tmp"
    with pytest.raises(ValueError):
        photo.relative_to(RemotePath("gs://bucket/raw"))


@pytest.fixture
def memory():
    """A folder of fsspec's in-memory filesystem, removed after the test."""
    import fsspec

    root = f"memory://poolcli-{uuid.uuid4().hex[:8]}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_objects_are_written_whole_once_and_read_back(memory):
    url = f"{memory}/out/a.png"
    assert not storage.exists(url)
    assert storage.write_bytes(url, b"first") == url
    assert storage.exists(url) and storage.read_bytes(url) == b"first"
    with pytest.raises(OutputExistsError, match=r"a\.png: exists$"):
        storage.write_bytes(url, b"second")
    storage.write_bytes(url, b"second", overwrite=True)
    assert storage.read_bytes(url) == b"second"
    assert storage.is_dir(f"{memory}/out") and not storage.is_dir(url)
    with pytest.raises(ImageReadError, match=r"missing\.png: not found$"):
        storage.read_bytes(f"{memory}/out/missing.png")


def test_a_folder_is_listed_sorted_with_its_subfolders(memory):
    for key in ("b.png", "a.png", "sub/c.png"):
        storage.write_bytes(f"{memory}/{key}", b"x")
    listed = storage.list_folder(RemotePath(memory))
    assert [(str(p), folder) for p, folder in listed] == [
        (f"{memory}/a.png", False), (f"{memory}/b.png", False), (f"{memory}/sub", True),
    ]  # fmt: skip


def test_a_file_url_is_written_as_a_local_path_is(tmp_path):
    url = f"file://{tmp_path}/out/a.png"
    storage.write_bytes(url, b"data")
    assert (tmp_path / "out" / "a.png").read_bytes() == b"data"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(TEMP_SUFFIX)]
    with pytest.raises(OutputExistsError):
        storage.write_bytes(url, b"again")
    assert storage.read_bytes(url) == b"data"


def test_an_unknown_protocol_or_a_missing_package_is_a_usage_error():
    with pytest.raises(StorageError, match=r"^nosuch://x: fsspec cannot open this URL: Protocol not known: nosuch$"):
        storage.filesystem("nosuch://x")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(StorageError, match=r"^gs://b/x: gs:// needs a package that is not installed \(.*gcsfs"):
            storage.filesystem("gs://b/x")


# --- a real S3-compatible server (moto) on 127.0.0.1 -------------------------------------------------


def _image(rng, shape=(8, 10, 3)) -> bytes:
    return encode(".png", rng.integers(0, 256, shape, dtype=np.uint8))


@pytest.fixture
def bucket_tree(s3, rng):
    """raw/ with images (one named like an earlier output, one without an extension), a text file, subfolders."""
    png = _image(rng)
    for key in ("raw/a.png", "raw/b.jpg", "raw/sub/c.png", "raw/sub/deeper/d.png", "raw/a.max-k2-s2.png"):
        s3.fs.pipe(f"{s3.bucket}/{key}", png)
    s3.fs.pipe(f"{s3.bucket}/raw/noext", png)
    s3.fs.pipe(f"{s3.bucket}/raw/notes.txt", b"not an image")
    return s3


def _found(inputs, **kw) -> list[str]:
    return [str(s.path) for s in discover(inputs, own_tag="max-k2-s2", **kw)]


def test_s3_folders_are_listed_globbed_and_walked_like_local_ones(bucket_tree):
    s3 = bucket_tree
    raw = s3.url("raw")
    assert _found([raw + "/"]) == [f"{raw}/a.png", f"{raw}/b.jpg", f"{raw}/noext"]
    assert _found([raw], recursive=True) == [
        f"{raw}/a.png", f"{raw}/b.jpg", f"{raw}/noext", f"{raw}/sub/c.png", f"{raw}/sub/deeper/d.png",
    ]  # fmt: skip
    assert _found([f"{raw}/**/*.png"]) == [f"{raw}/a.png", f"{raw}/sub/c.png", f"{raw}/sub/deeper/d.png"]
    assert _found([f"{raw}/*/c.png"]) == [f"{raw}/sub/c.png"]
    roots = {str(s.root) for s in discover([raw], recursive=True)}
    assert roots == {raw}
    (missing,) = list(discover([f"{raw}/nothing*.png"]))
    assert isinstance(missing.error, NoImagesError) and str(missing.error).endswith("no file matches this pattern")


def test_s3_objects_are_read_and_written_through_fsspec(s3):
    url = s3.url("out/x.png")
    storage.write_bytes(url, b"\x89PNG whole")
    assert s3.keys() == {"out/x.png"} and storage.read_bytes(url) == b"\x89PNG whole"
    with pytest.raises(OutputExistsError):
        storage.write_bytes(url, b"other")
    assert storage.exists(url) and storage.is_dir(s3.url("out")) and not storage.exists(s3.url("out/y.png"))
    with pytest.raises(ImageReadError, match=r"y\.png: not found$"):
        storage.read_bytes(s3.url("out/y.png"))
    assert os.environ["FSSPEC_S3_ENDPOINT_URL"].startswith("http://127.0.0.1:")

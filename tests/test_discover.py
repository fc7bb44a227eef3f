"""Finding inputs: folders, globs, links, and what is not read."""

from __future__ import annotations


def test_a_glob_does_not_follow_a_link_loop(tree):
    from poolcli.discover import discover

    found = [s.path.relative_to(tree).as_posix() for s in discover([f"{tree}/**/*.png"])]
    assert found == ["a.png", "dup.png", "truncated.png", "sub/c.png", "sub/deeper/f.png"]


def test_a_folder_yields_images_by_name_or_by_content_in_order(tree):
    from poolcli.discover import discover

    found = [s.path.relative_to(tree).as_posix() for s in discover([str(tree)])]
    assert found == [
        "a.png",
        "b.jpg",
        "c.tif",
        "d.webp",
        "dup.jpg",
        "dup.png",
        "e.bmp",
        "fake.jpg",
        "renamed.dat",
        "truncated.png",
    ]
    deep = [s.path.relative_to(tree).as_posix() for s in discover([str(tree)], recursive=True)]
    assert deep[-2:] == ["sub/c.png", "sub/deeper/f.png"]  # the link back up (sub/loop) is not followed


def test_earlier_outputs_temporaries_and_pruned_folders_are_not_inputs(tmp_path):
    from poolcli.discover import discover
    from poolcli.paths import TEMP_SUFFIX

    for name in ("a.png", "a.max-k2-s2.png", "a.adaptive-avg-8x8.png", "a.compare-k8-s8.png", f".x{TEMP_SUFFIX}"):
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    found = [
        s.path.name for s in discover([str(tmp_path)], recursive=True, own_tag="max-k2-s2", prune=[tmp_path / "out"])
    ]
    assert found == ["a.png"]


def test_what_fails_before_reading(tmp_path):
    from poolcli.discover import discover
    from poolcli.errors import NoImagesAtTopError, NoImagesError

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "deeper").mkdir()
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    sources = list(discover([str(tmp_path / "empty"), str(tmp_path / "nothing*.png"), str(tmp_path)]))
    assert [type(s.error) for s in sources] == [NoImagesAtTopError, NoImagesError, type(sources[2].error)]
    assert str(sources[2].error) == f"{tmp_path / 'dangling.png'}: dangling symbolic link"
    assert str(sources[0].error) == f"{tmp_path / 'empty'}: is a directory with no images in it"

"""``--html``: a page per run, made from results as they arrive, without a browser."""

from __future__ import annotations

import base64
import pickle
import re

import cv2
import numpy as np
import pytest

from poolcli.batch import Summary, execute
from poolcli.pipeline import Job, Pooling, Result, Work, process
from poolcli.report import Reporter
from poolcli.runpage import GENERATOR, RunPage, Tee, _page_chunks, is_run_page, row
from poolcli.spec import PoolSpec
from poolcli.thumbs import FIGURE_QUALITY, FIGURE_SIDE, THUMB_SIDE, thumbnail

from . import pagecheck
from .conftest import write_rgb


def thumbs_of(page: pagecheck.Page) -> list[np.ndarray]:
    images = []
    for attrs in page.all("img"):
        src = attrs["src"]
        assert src.startswith("data:image/jpeg;base64,")
        data = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
        images.append(cv2.imdecode(data, cv2.IMREAD_UNCHANGED))
    return images


@pytest.fixture
def folder(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    write_rgb(src / "a.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    write_rgb(src / "b.png", rng.integers(0, 65536, (30, 20), dtype=np.uint16))
    write_rgb(src / "c.png", rng.integers(0, 256, (9, 7, 4), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return src


def test_run_page_has_a_row_per_input_with_thumbnails_and_reasons(invoke, folder, tmp_path):
    result = invoke("max", folder, "-o", tmp_path / "out", "--html", tmp_path / "run.html", "--device", "cpu")
    assert result.exit_code == 1
    text = (tmp_path / "run.html").read_text(encoding="utf-8")
    page = pagecheck.parse(text)
    rows = [a for a in page.all("tr") if a.get("data-status")]
    assert sorted(r["data-name"].rsplit("/", 1)[1] for r in rows) == ["a.png", "b.png", "broken.png", "c.png"]
    assert {r["data-name"].rsplit("/", 1)[1]: r["data-status"] for r in rows}["broken.png"] == "failed"
    assert re.search(r'<tr class="failed"[^>]*>.*<span class="reason">[^<]*broken\.png: [^<]+</span>', text)
    assert '<div class="tile written"><b>3</b> written</div>' in text
    assert "3 written, 0 skipped (exist), 1 failed in" in text
    assert text.count("max k=2 s=2") >= 5  # the heading and every row
    assert "60x40" not in text and "40x60x3 → 20x30x3" in text and "uint16" in text
    pictures = thumbs_of(page)
    assert len(pictures) == 6  # original and result for each image that was pooled
    assert all(max(p.shape[:2]) <= THUMB_SIDE for p in pictures)
    assert f'<meta name="generator" content="{GENERATOR}">' in text
    assert (
        f"<code>poolcli max {folder} -o {tmp_path / 'out'} --html {tmp_path / 'run.html'} --device cpu</code>" in text
    )


def test_compare_page_shows_the_figure(invoke, folder, tmp_path):
    result = invoke("compare", folder / "a.png", "-k", "2", "-o", tmp_path / "fig.png", "--html", tmp_path / "c.html")
    assert result.exit_code == 0, result.stderr
    page = pagecheck.parse((tmp_path / "c.html").read_text(encoding="utf-8"))
    captions = re.findall(r"<figcaption>(\w+)</figcaption>", (tmp_path / "c.html").read_text(encoding="utf-8"))
    assert captions == ["original", "figure"]
    _, figure = thumbs_of(page)
    assert max(figure.shape[:2]) <= FIGURE_SIDE and figure.shape[1] > figure.shape[0]


def test_pooling_with_compare_adds_the_figure_thumbnail(invoke, folder, tmp_path):
    result = invoke("avg", folder / "a.png", "-o", tmp_path / "a.png", "--compare", "--html", tmp_path / "p.html")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert re.findall(r"<figcaption>(\w+)</figcaption>", text) == ["original", "result", "figure"]


def test_thumbnails_are_made_in_the_worker_and_pickle(folder, tmp_path):
    job = Job(str(folder / "a.png"), target=str(tmp_path / "a.out.png"))
    got = process(job, Work(Pooling(PoolSpec.make("max")), thumbs=True))
    assert got.status == "written" and set(got.thumbs) == {"original", "result"}
    assert pickle.loads(pickle.dumps(got)).thumbs == got.thumbs
    without = process(
        Job(str(folder / "a.png"), target=str(tmp_path / "b.out.png")), Work(Pooling(PoolSpec.make("max")))
    )
    assert without.thumbs is None


def test_thumbnail_of_any_sample_format(rng):
    for image in (
        rng.integers(0, 256, (300, 200, 4), dtype=np.uint8),
        rng.integers(-100, 100, (5, 9), dtype=np.int16),
        rng.random((50, 50, 3), dtype=np.float32),
    ):
        picture = cv2.imdecode(np.frombuffer(thumbnail(image), np.uint8), cv2.IMREAD_UNCHANGED)
        assert picture.dtype == np.uint8 and max(picture.shape[:2]) <= THUMB_SIDE
    tiny = cv2.imdecode(np.frombuffer(thumbnail(np.zeros((4, 2), np.uint8)), np.uint8), cv2.IMREAD_UNCHANGED)
    assert tiny.shape == (112, 56)  # enlarged by whole pixels


def test_a_row_of_three_noisy_thumbnails_stays_small(rng, tmp_path):
    """1,000 inputs must make a page under 30 MB: a row's worst case (noise, with a figure) is far below 30 KB."""
    noise = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    figure = rng.integers(0, 256, (500, 1500, 3), dtype=np.uint8)
    result = Result("photos/noise.png", "out/noise.png", "written", figure="out/noise.compare.png",
                    in_shape=noise.shape, out_shape=(256, 256, 3), dtype="uint8", ms=12.5,
                    thumbs={"original": thumbnail(noise), "result": thumbnail(noise[::2, ::2]),
                            "figure": thumbnail(figure, FIGURE_SIDE, FIGURE_QUALITY)})  # fmt: skip
    assert len(row(result, 1, "max k=2 s=2").encode()) < 24_000


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("image.html", "the run page would overwrite an input of this run"),
        ("other.html", "exists and is not a poolcli run page (use --overwrite to replace it)"),
        ("run.txt", "the run page is HTML: give a name ending in .html"),
        ("both.html", "the run page and the report would be the same file"),
    ],
)
def test_page_path_is_checked_like_the_report(invoke, folder, tmp_path, where, message):
    (tmp_path / "other.html").write_text("<p>mine</p>")
    (tmp_path / "image.html").write_bytes((folder / "a.png").read_bytes())  # an image, oddly named, as an input
    args = ["max", folder, tmp_path / "image.html", "-o", tmp_path / "out", "--html", tmp_path / where]
    if where == "both.html":
        args += ["--report", tmp_path / where]
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr == f"poolcli: error: {tmp_path / where}: {message}\n"
    assert not (tmp_path / "out").exists()


def test_an_earlier_page_is_replaced_and_others_with_overwrite(invoke, folder, tmp_path):
    page = tmp_path / "run.html"
    assert invoke("max", folder / "a.png", "-o", tmp_path / "x.png", "--html", page).exit_code == 0
    assert is_run_page(page)
    assert invoke("min", folder / "a.png", "-o", tmp_path / "y.png", "--html", page).exit_code == 0
    assert "min k=2 s=2" in page.read_text(encoding="utf-8")
    other = tmp_path / "other.html"
    other.write_text("<p>mine</p>")
    assert invoke("max", folder / "a.png", "-o", tmp_path / "z.png", "--html", other, "--overwrite").exit_code == 0
    assert is_run_page(other)


def test_dry_run_writes_no_page(invoke, folder, tmp_path):
    result = invoke("max", folder, "-o", tmp_path / "out", "--html", tmp_path / "run.html", "--dry-run")
    assert result.exit_code == 1  # the broken file
    assert not (tmp_path / "run.html").exists()


class Stop:
    """A listener that interrupts the run at its second result, as Ctrl-C would."""

    def __init__(self) -> None:
        self.seen = 0

    def start(self, total: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def add(self, result: Result) -> None:
        self.seen += 1
        if self.seen == 2:
            raise KeyboardInterrupt

    def finish(self, summary: Summary) -> None:
        pass


def test_an_interrupted_run_still_writes_its_page_with_what_finished(folder, tmp_path):
    path = tmp_path / "run.html"
    page = RunPage(path, label="max k=2 s=2")
    reporter = Reporter(None, None, progress=False)
    from poolcli.batch import RunOptions

    with pytest.raises(KeyboardInterrupt):
        execute([str(folder)], Pooling(PoolSpec.make("max")), Tee(reporter, page, Stop()),
                outputs=__import__("poolcli.batch", fromlist=["Outputs"]).Outputs(str(tmp_path / "out")),
                options=RunOptions(jobs=1, html=str(path)), device="cpu")  # fmt: skip
    text = path.read_text(encoding="utf-8")
    pagecheck.parse(text)
    assert "Interrupted: 2 of 4 input(s) finished" in text
    assert text.count('data-status="') == 2


def test_rows_are_streamed_through_a_file_not_held(tmp_path):
    page = RunPage(tmp_path / "run.html", label="max")
    page.start(3)
    for n in range(3):
        page.add(Result(f"in/{n}.png", None, "failed", error=f"in/{n}.png: broken", ms=1.0))
    assert not hasattr(page, "results") and page.rows is not None and page.rows.tell() > 0
    chunks = list(_page_chunks(b"<head>", page.rows))
    assert chunks[0] == b"<head>" and b"in/2.png: broken" in chunks[1] and chunks[-1].rstrip().endswith(b"</html>")
    page.finish(Summary(failed=3))
    assert page.rows is None and not page.failed
    text = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert text.count('data-status="failed"') == 3 and text.count("in/1.png: broken") == 1


def test_a_page_that_cannot_be_written_fails_the_run_once(invoke, folder, tmp_path, monkeypatch):
    (tmp_path / "dir.html").mkdir()
    result = invoke("max", folder / "a.png", "-o", tmp_path / "x.png", "--html", tmp_path / "dir.html")
    assert result.exit_code == 2
    assert result.stderr == f"poolcli: error: {tmp_path / 'dir.html'}: is a directory; the run page is a file\n"

    import poolcli.runpage

    def full(head, rows):
        yield head
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(poolcli.runpage, "_page_chunks", full)
    result = invoke("max", folder / "a.png", "-o", tmp_path / "y.png", "--html", tmp_path / "run.html")
    assert result.exit_code == 1
    assert (tmp_path / "y.png").exists()  # the pooling itself went on
    assert result.stderr == (
        f"poolcli: error: {tmp_path / 'run.html'}: cannot write the page: write failed: No space left on device\n"
    )
    assert not (tmp_path / "run.html").exists() and not list(tmp_path.glob("*.poolcli-tmp"))

"""Parsing knobs and the output-size formula."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolcli import output_size, reference
from poolcli.errors import ImageShapeError, ParameterError
from poolcli.spec import PoolSpec, parse_pair, parse_size


@pytest.mark.parametrize(
    ("text", "pair"),
    [("3", (3, 3)), ("2x3", (2, 3)), ("2X3", (2, 3)), (" 4 x 1 ", (4, 1)), (5, (5, 5)), ((1, 2), (1, 2))],
)
def test_parse_pair(text, pair):
    assert parse_pair(text, "kernel") == pair


@pytest.mark.parametrize("text", ["", "x", "2x", "2x3x4", "-1", "a", "2.5", True, (1, 2, 3)])
def test_parse_pair_rejects(text):
    with pytest.raises(ParameterError):
        parse_pair(text, "kernel")


@pytest.mark.parametrize(
    ("text", "size"),
    [("64", (64, 64)), ("64x48", (64, 48)), ("64x-", (64, None)), ("-x48", (None, 48)), ((7, None), (7, None))],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "axb", "3x0", "-3"])
def test_parse_size_rejects(text):
    with pytest.raises(ParameterError):
        parse_size(text)


def test_output_size_formula_examples():
    assert output_size(32, 32, kernel=3, stride=2, padding=1) == (16, 16)
    assert output_size(224, 224, kernel=2) == (112, 112)
    assert output_size(5, 5, kernel=2, ceil_mode=True) == (3, 3)
    assert output_size(5, 5, kernel=2) == (2, 2)
    # ceil mode: the last window must start inside the input or the left padding
    assert output_size(5, 5, kernel=2, stride=3, padding=1, ceil_mode=True) == (2, 2)
    assert output_size(10, 10, kernel=3, stride=1, dilation=2) == (6, 6)
    assert output_size(7, 9, kernel=2, stride=3, padding="same") == (3, 3)


@given(st.integers(1, 60), st.integers(1, 6), st.integers(1, 5), st.integers(0, 3), st.integers(1, 3), st.booleans())
def test_output_length_matches_reference(n, k, s, p, d, ceil_mode):
    p = min(p, k // 2)
    try:
        want = reference.output_length(n, k, s, p, d, ceil_mode)
    except ValueError:
        with pytest.raises((ParameterError, ImageShapeError)):
            output_size(n, n, k, s, p, d, ceil_mode)
        return
    assert output_size(n, n, k, s, p, d, ceil_mode) == (want, want)


@pytest.mark.parametrize(
    ("kwargs", "tag", "text"),
    [
        ({"op": "max"}, "max-k2-s2", "max k=2 s=2"),
        ({"op": "min", "kernel": "2x3", "ceil_mode": True}, "min-k2x3-s2x3-ceil", "min k=2x3 s=2x3 ceil"),
        ({"op": "avg", "kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False}, "avg-k3-s2-p1-nopad",
         "avg k=3 s=2 p=1 no-count-pad"),
        ({"op": "max", "kernel": 3, "stride": 1, "dilation": 2}, "max-k3-s1-d2", "max k=3 s=1 d=2"),
        ({"op": "avg", "divisor": 5, "padding": "same"}, "avg-k2-s2-psame-div5", "avg k=2 s=2 p=same divisor=5"),
    ],
)  # fmt: skip
def test_tag_and_description(kwargs, tag, text):
    spec = PoolSpec.make(**kwargs)
    assert spec.tag() == tag
    assert spec.describe() == text


def test_plan_names_image_and_kernel():
    with pytest.raises(ImageShapeError, match="image 2x9 is smaller than the kernel 3x3"):
        PoolSpec.make("max", 3).plan(2, 9)


@given(
    st.sampled_from(["max", "avg", "min"]),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.integers(1, 99)),
)
def test_every_tag_is_recognised_as_an_output_name(op, kh, kw, s, same, ceil_mode, include_pad, divisor):
    from poolcli.ops import is_output_name

    spec = PoolSpec.make(
        op,
        (kh, kw),
        s,
        "same" if same else (kh // 2, 0),
        1 if op == "avg" else 2,
        ceil_mode and not same,
        include_pad or op != "avg",
        divisor if op == "avg" else None,
    )
    assert is_output_name(f"photo.{spec.tag()}.png")
    assert is_output_name(f"photo.{spec.tag()}.compare.png")
    assert not is_output_name(f"photo-{spec.tag()}.png")


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("a.adaptive-max-64x48.png", True),
        ("a.adaptive-avg-64xW.jpg", True),
        ("a.compare.png", True),
        ("holiday.max.png", False),
        ("max-k2-s2.png", False),
        ("a.jpg", False),
    ],
)
def test_output_names(name, ours):
    from poolcli.ops import is_output_name

    assert is_output_name(name) is ours

"""The fast paths of poolcli.pooling: banding, layouts, dtypes and exact rounding.

Every case is checked against the NumPy reference (or PyTorch itself where the
reference has no such dtype); none of these tests looks at the clock.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poolcli
from poolcli import pooling, reference
from poolcli.spec import PoolSpec

from .conftest import DEVICES
from .test_pooling import pooling_case, random_image

ALL_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64]


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """An (H, W[, C]) image as a channels-last (1, C, H, W) view, as poolcli makes it."""
    return torch.from_numpy(np.atleast_3d(image)).unsqueeze(0).permute(0, 3, 1, 2)


def as_image(t: torch.Tensor, ndim: int) -> np.ndarray:
    out = t[0].permute(1, 2, 0).cpu().numpy()
    return out[:, :, 0] if ndim == 2 else out


def assert_pooled_equal(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


def torch_pool(image: np.ndarray, op: str, **kw) -> np.ndarray:
    """PyTorch's own answer in float64, rounded half to even and clipped for integers."""
    x = torch.from_numpy(np.atleast_3d(image).astype(np.float64)).permute(2, 0, 1)[None]
    common = dict(kernel_size=kw["kernel"], stride=kw["stride"], padding=kw.get("padding", 0))
    common["ceil_mode"] = kw.get("ceil_mode", False)
    if op == "max":
        y = F.max_pool2d(x, **common)
    elif op == "min":
        y = -F.max_pool2d(-x, **common)
    else:
        y = F.avg_pool2d(
            x, count_include_pad=kw.get("count_include_pad", True), divisor_override=kw.get("divisor"), **common
        )
    y = y[0].permute(1, 2, 0).numpy()
    info = np.iinfo(image.dtype)
    y = np.clip(np.round(y), info.min, info.max).astype(image.dtype)
    return y[:, :, 0] if image.ndim == 2 else y


# --- bands: any band size gives the same bytes ------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_case(), st.integers(1, 6))
def test_band_size_never_changes_the_result(case, band_rows):
    image, op, kwargs = case
    spec = PoolSpec.make(op, **kwargs)
    whole = as_image(pooling.pool_tensor(as_tensor(image), spec, band_rows=10**6), image.ndim)
    banded = as_image(pooling.pool_tensor(as_tensor(image), spec, band_rows=band_rows), image.ndim)
    np.testing.assert_array_equal(banded, whole)  # byte-identical, floats included
    assert_pooled_equal(banded, reference.pool(image, op, **kwargs))


BAND_CASES = [
    dict(kernel=2, stride=2),
    dict(kernel=3, stride=2),
    dict(kernel=3, stride=2, padding=1),
    dict(kernel=2, stride=2, ceil_mode=True),
    dict(kernel=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True),
    dict(kernel=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel=2, stride=1, padding="same"),
    dict(kernel=3, stride=3, divisor=2),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize(
    ("op", "kwargs"),
    # the avg-only knobs (divisor, count_include_pad) go to avg alone
    [
        (op, kw)
        for op in ("max", "avg", "min")
        for kw in BAND_CASES
        if op == "avg" or not {"divisor", "count_include_pad"} & kw.keys()
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in v.items()),
)
def test_default_bands_on_odd_sizes(dtype, op, kwargs, rng, monkeypatch):
    """Small bands (by patching the byte budget) on sizes no band divides."""
    monkeypatch.setattr(pooling, "BAND_BYTES", 256)
    image = random_image(rng, (29, 23, 3), dtype)
    got = poolcli.pool(image, op, **kwargs)
    if np.dtype(dtype) == np.int8:  # the reference has no int8; PyTorch is the witness
        if kwargs.get("padding") == "same":
            return
        expected = torch_pool(image, op, **kwargs)
    else:
        expected = reference.pool(image, op, **kwargs)
    assert_pooled_equal(got, expected)


# --- exact rounding of averages --------------------------------------------------------------


def half_even(numerator: int, denominator: int) -> int:
    return round(Fraction(numerator, denominator))  # Python rounds a Fraction half to even


@pytest.mark.parametrize(
    ("work", "quotient"),
    [
        (torch.int16, None),
        (torch.int64, None),
        (torch.int16, torch.float32),
        (torch.int32, torch.float32),
        (torch.int32, torch.float64),
    ],
)
@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 5, 6, 8, 9, 12, 16, 25, 64, 1000])
def test_division_rounds_half_to_even(work, quotient, divisor):
    """Integer and float division of sums (up to the float32 bound, 2**23) against exact rationals."""
    limit = 1000 if work == torch.int16 else 2**23 - 1
    quotients = torch.linspace(-limit // divisor, limit // divisor, 10000, dtype=torch.float64).long().unique()
    near_ties = quotients[:, None] * divisor + torch.tensor(
        [-1, 0, 1, divisor // 2 - 1, divisor // 2, divisor // 2 + 1]
    )
    sums = near_ties.flatten().clamp(-limit, limit).to(work)
    out = torch.empty(sums.shape, dtype=torch.int64 if quotient is None else torch.int32)
    q = None if quotient is None else torch.empty(sums.shape, dtype=quotient)
    pooling._divide_into(sums.clone(), divisor, out, clamp=False, quotient=q)
    assert out.tolist() == [half_even(int(v), divisor) for v in sums]


def test_every_uint8_window_sum_rounds_half_to_even():
    # a 2 x 2040 image whose 2x2 windows have every sum 0..1020
    sums = np.arange(1021)
    a = np.minimum(sums, 255)
    b = np.minimum(sums - a, 255)
    c = np.minimum(sums - a - b, 255)
    d = sums - a - b - c
    image = np.zeros((2, 2 * len(sums)), np.uint8)
    image[0, 0::2], image[0, 1::2], image[1, 0::2], image[1, 1::2] = a, b, c, d
    got = poolcli.pool(image, "avg", kernel=2)[0]
    np.testing.assert_array_equal(got, [half_even(int(s), 4) for s in sums])


def test_window_counts_at_the_edges_round_exactly():
    # 3x3 windows with padding: divisors 4, 6 and 9 (with the pad) or 4, 6, 9 real cells
    image = np.full((5, 5), 7, np.uint8)
    image[0, 0] = 8
    for include in (True, False):
        got = poolcli.pool(image, "avg", kernel=3, stride=2, padding=1, count_include_pad=include)
        np.testing.assert_array_equal(
            got, reference.pool(image, "avg", kernel=3, stride=2, padding=1, count_include_pad=include)
        )


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32])
def test_small_divisor_clips_to_the_dtype(dtype):
    info = np.iinfo(dtype)
    image = np.array([[info.max, info.max], [info.min, info.min]], dtype=dtype)
    got = poolcli.pool(image, "avg", kernel=(1, 2), divisor=1)
    np.testing.assert_array_equal(got, [[info.max], [info.min]])


@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_int8_matches_torch(op, rng):
    image = random_image(rng, (31, 27, 3), np.int8)
    for kwargs in (dict(kernel=2, stride=2), dict(kernel=3, stride=2, padding=1, ceil_mode=True)):
        np.testing.assert_array_equal(poolcli.pool(image, op, **kwargs), torch_pool(image, op, **kwargs))


# --- layouts, batches and threads --------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_tensor_layouts(device, dtype, op, layout, rng):
    batch = random_image(rng, (2, 3, 40, 38), dtype)
    t = torch.from_numpy(batch).to(device)
    if layout == "channels_last":
        t = t.contiguous(memory_format=torch.channels_last)
    elif layout == "sliced":
        t = t[:, :, 1:-3:1, ::2]  # neither contiguous nor channels-last
    kwargs = dict(kernel=3, stride=2, padding=1, ceil_mode=True)
    out = poolcli.pool(t, op, **kwargs)
    assert out.dtype == t.dtype and out.device == t.device
    if layout == "channels_last":
        assert out.is_contiguous(memory_format=torch.channels_last)
    host = t.cpu().numpy()
    for n in range(host.shape[0]):
        image = np.ascontiguousarray(host[n].transpose(1, 2, 0))
        if np.dtype(dtype) == np.int8:
            expected = torch_pool(image, op, **kwargs)
        else:
            expected = reference.pool(image, op, **kwargs)
        assert_pooled_equal(out[n].cpu().permute(1, 2, 0).numpy(), expected)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_case())
def test_gpu_choices_run_on_the_cpu(case):
    """The GPU's choices (one band, no per-channel ops, torch memory) checked here, where CI runs."""
    image, op, kwargs = case
    spec = PoolSpec.make(op, **kwargs)
    cpu = as_image(pooling.pool_tensor(as_tensor(image), spec), image.ndim)
    original = pooling._on_cpu
    pooling._on_cpu = lambda x: False
    try:
        gpu_like = as_image(pooling.pool_tensor(as_tensor(image), spec), image.ndim)
    finally:
        pooling._on_cpu = original
    np.testing.assert_array_equal(gpu_like, cpu)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_thread_count_never_changes_the_result(dtype, op, rng):
    image = random_image(rng, (301, 257, 3), dtype)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(poolcli.pool(image, op, kernel=3, stride=2, padding=1))
    finally:
        torch.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_numpy_result_is_a_fresh_contiguous_image(channels, op, rng):
    shape = (20, 18) if channels is None else (20, 18, channels)
    image = random_image(rng, shape, np.uint8)
    out = poolcli.pool(image, op, kernel=2)
    assert out.flags.c_contiguous and not np.shares_memory(out, image)
    assert out.shape == (10, 9) + (() if channels is None else (channels,))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_non_contiguous_numpy_views(dtype, op, rng):
    base = random_image(rng, (41, 62, 4), dtype)
    for view in (base[::2, ::3, :3], base[:, :, 2], base.transpose(1, 0, 2), base[3:, 5:, 1:]):
        got = poolcli.pool(view, op, kernel=3, stride=2, padding=1)
        contiguous = np.ascontiguousarray(view)
        if np.dtype(dtype) == np.int8:
            expected = torch_pool(contiguous, op, kernel=3, stride=2, padding=1)
        else:
            expected = reference.pool(contiguous, op, kernel=3, stride=2, padding=1)
        assert_pooled_equal(got, expected)

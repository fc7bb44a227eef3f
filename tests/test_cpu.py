"""The NumPy/OpenCV CPU paths (poolcli._cpu): 2x2 averages, adaptive and global pooling.

Every result is compared with the NumPy reference (PyTorch where the reference
has no such dtype or for inf and NaN); the GPU's torch path is run on the CPU
too (``pooling._on_cpu`` patched), so both paths are held to the same answers.
Nothing here looks at the clock.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poolcli
from poolcli import _cpu, pooling, reference
from poolcli.errors import OutOfMemoryError, ParameterError, PoolcliError
from poolcli.spec import PoolSpec

from .test_pooling import as_image, as_tensor, half_even, random_image

REFERENCE_DTYPES = ["uint8", "uint16", "int16", "int32", "float32", "float64"]


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


def on_gpu_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pooling take the choices it takes for a GPU tensor (torch ops only)."""
    monkeypatch.setattr(pooling, "_on_cpu", lambda x: False)


def torch_adaptive(image: np.ndarray, size: tuple[int, int], reduce: str) -> np.ndarray:
    """PyTorch's adaptive pooling in float64, rounded half to even for integer images."""
    x = torch.from_numpy(np.atleast_3d(image).astype(np.float64)).permute(2, 0, 1)[None]
    if reduce == "avg":
        y = F.adaptive_avg_pool2d(x, size)
    elif reduce == "max":
        y = F.adaptive_max_pool2d(x, size)
    else:
        y = -F.adaptive_max_pool2d(-x, size)
    y = y[0].permute(1, 2, 0).numpy()
    if image.dtype.kind in "iu":
        y = np.round(y)
    y = y.astype(image.dtype)
    return y[:, :, 0] if image.ndim == 2 else y


# --- 2x2 averages through OpenCV's halving -------------------------------------------------------


def test_this_opencv_halves_half_up():
    """The premise of the fast 2x2 average; if it fails, pool() still works (torch path)."""
    assert _cpu.area2_is_half_up("uint8") and _cpu.area2_is_half_up("uint16")


@st.composite
def halving_case(draw):
    dtype = draw(st.sampled_from(["uint8", "uint16"]))
    h, w = draw(st.integers(2, 70)), draw(st.integers(2, 70))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        image = random_image(rng, shape, dtype)
    else:  # few distinct values: many window sums are ties (2 mod 4)
        top = np.iinfo(dtype).max
        image = rng.choice(np.array([0, 1, 2, 3, top - 1, top], dtype=dtype), size=shape)
    kwargs = dict(kernel=2, ceil_mode=draw(st.booleans()), divisor=draw(st.sampled_from([None, 4])))
    return image, kwargs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(halving_case(), st.integers(1, 5))
def test_halving_average_equals_reference(case, band_rows):
    image, kwargs = case
    assert_same(poolcli.pool(image, "avg", **kwargs), reference.pool(image, "avg", **kwargs))
    spec = PoolSpec.make("avg", **kwargs)
    banded = as_image(pooling.pool_tensor(as_tensor(image), spec, band_rows=band_rows), image.ndim)
    assert_same(banded, reference.pool(image, "avg", **kwargs))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_every_window_sum_rounds_half_to_even_in_every_channel(dtype, channels):
    top = int(np.iinfo(dtype).max)
    sums = np.concatenate([np.arange(0, 1021), 4 * top - np.arange(0, 1021)])  # both ends of the range
    taps = [np.clip(sums - top * t, 0, top) for t in range(4)]
    image = np.zeros((2, 2 * len(sums), channels), dtype)
    for c in range(channels):
        rolled = [np.roll(t, 7 * c) for t in taps]  # another sum in each channel
        image[0, 0::2, c], image[0, 1::2, c], image[1, 0::2, c], image[1, 1::2, c] = rolled
    got = poolcli.pool(image, "avg", kernel=2)
    want = np.array([[[half_even(int(s), 4) for s in np.roll(sums, 7 * c)] for c in range(channels)]], dtype)
    np.testing.assert_array_equal(got, want.transpose(0, 2, 1))


@pytest.mark.parametrize("layout", ["channels_last", "planar", "sliced", "batch"])
def test_halving_average_on_tensor_layouts(layout, rng):
    batch = random_image(rng, (3, 3, 34, 46), np.uint16)
    t = torch.from_numpy(batch)
    if layout == "channels_last":
        t = t.contiguous(memory_format=torch.channels_last)
    elif layout == "sliced":
        t = t.permute(0, 2, 3, 1)[:, 1:-3, 2:].permute(0, 3, 1, 2)  # channels-last rows with a gap
    elif layout == "batch":
        t = t[:, :1]
    out = poolcli.pool(t, "avg", kernel=2)
    for n in range(t.shape[0]):
        image = np.ascontiguousarray(t[n].permute(1, 2, 0).numpy())
        np.testing.assert_array_equal(out[n].permute(1, 2, 0).numpy(), reference.pool(image, "avg", kernel=2))


def test_halving_falls_back_when_opencv_rounds_otherwise(monkeypatch, rng):
    image = random_image(rng, (30, 42, 3), np.uint8)
    monkeypatch.setattr(_cpu, "area2_is_half_up", lambda dtype: False)
    np.testing.assert_array_equal(poolcli.pool(image, "avg"), reference.pool(image, "avg", kernel=2))


def test_halving_leaves_the_input_alone(rng):
    image = random_image(rng, (40, 40, 3), np.uint8)
    before = image.copy()
    poolcli.pool(image, "avg")
    np.testing.assert_array_equal(image, before)


# --- tiling averages through OpenCV's INTER_AREA -------------------------------------------------


def test_this_opencv_averages_tiles_exactly_where_the_arithmetic_says_it_can():
    """Powers of two and small odd areas go to OpenCV; 2x3 (1/6 inexact, ties possible) never does."""
    for dtype in ("uint8", "uint16"):
        for kernel in ((4, 4), (3, 3), (8, 8), (2, 4), (1, 2), (5, 5)):
            assert _cpu.area_is_exact(dtype, *kernel), (dtype, kernel)
        assert not _cpu.area_is_exact(dtype, 2, 3) and not _cpu.area_is_exact(dtype, 6, 1)
    assert not _cpu.area_is_exact("uint16", 7, 7)  # odd, but 49 * 65535 leaves too little float margin
    assert not _cpu.area_is_exact("uint16", 32, 16)  # 16-bit sums past 2**24 lose bits in OpenCV's float


@st.composite
def tiling_case(draw):
    dtype = draw(st.sampled_from(["uint8", "uint16"]))
    kernel = draw(st.sampled_from([(3, 3), (4, 4), (2, 4), (4, 2), (1, 2), (3, 1), (8, 8), (5, 5), (2, 3)]))
    h = draw(st.integers(kernel[0], 4 * kernel[0] + 3))
    w = draw(st.integers(kernel[1], 4 * kernel[1] + 3))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = np.iinfo(dtype).max
    if draw(st.booleans()):
        image = random_image(rng, shape, dtype)
    else:  # few values: many sums are ties
        image = rng.choice(np.array([0, 1, 2, 3, top - 1, top], dtype=dtype), size=shape)
    kwargs = dict(kernel=kernel, divisor=draw(st.sampled_from([None, kernel[0] * kernel[1]])))
    return image, kwargs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiling_case())
def test_tiling_average_equals_reference(case):
    image, kwargs = case
    assert_same(poolcli.pool(image, "avg", **kwargs), reference.pool(image, "avg", **kwargs))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiling_averages_take_opencv_and_round_every_tie_to_even(dtype, rng):
    top = int(np.iinfo(dtype).max)
    for kh, kw in ((4, 4), (3, 3), (2, 4), (8, 8)):
        area = kh * kw
        image = rng.choice(np.array([0, 1, top - 1, top], dtype=dtype), size=(9 * kh, 7 * kw, 3))
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        out = torch.empty((1, 3, 9, 7), dtype=x.dtype).contiguous(memory_format=torch.channels_last)
        assert _cpu.area_into(x, out, kh, kw)  # the OpenCV path, not the torch one
        sums = image.astype(np.int64).reshape(9, kh, 7, kw, 3).sum(axis=(1, 3))
        want = np.vectorize(lambda s, a=area: half_even(int(s), a))(sums).astype(dtype)
        np.testing.assert_array_equal(out[0].permute(1, 2, 0).numpy(), want)
        np.testing.assert_array_equal(poolcli.pool(image, "avg", kernel=(kh, kw)), want)


def test_tiling_falls_back_when_opencv_rounds_otherwise(monkeypatch, rng):
    image = random_image(rng, (36, 44, 3), np.uint16)
    calls = []
    monkeypatch.setattr(_cpu, "area_is_exact", lambda *a: calls.append(a) or False)
    np.testing.assert_array_equal(poolcli.pool(image, "avg", kernel=4), reference.pool(image, "avg", kernel=4))
    assert calls == [("uint16", 4, 4)]


def test_windows_that_do_not_tile_never_take_the_tiling_path(monkeypatch, rng):
    image = random_image(rng, (36, 44, 3), np.uint8)
    monkeypatch.setattr(_cpu, "area_into", lambda *a: pytest.fail(f"area_into called for {a[2:]}"))
    for kwargs in (dict(kernel=4, stride=2), dict(kernel=4, padding=1), dict(kernel=5, ceil_mode=True),
                   dict(kernel=4, divisor=15)):  # fmt: skip
        np.testing.assert_array_equal(poolcli.pool(image, "avg", **kwargs), reference.pool(image, "avg", **kwargs))


# --- adaptive ------------------------------------------------------------------------------------


@st.composite
def adaptive_case(draw):
    dtype = draw(st.sampled_from([*REFERENCE_DTYPES, "int8"]))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    regular = draw(st.booleans())
    if regular:  # sizes that divide: whole-band strided views
        oh = draw(st.sampled_from([d for d in range(1, h + 1) if h % d == 0]))
        ow = draw(st.sampled_from([d for d in range(1, w + 1) if w % d == 0]))
    else:  # overlapping windows, and more outputs than inputs
        oh, ow = draw(st.integers(1, 60)), draw(st.integers(1, 60))
    channels = draw(st.sampled_from([None, 1, 3, 4, 5]))
    shape = (h, w) if channels is None else (h, w, channels)
    image = random_image(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), shape, dtype)
    return image, (oh, ow), draw(st.sampled_from(["avg", "max", "min"]))


def adaptive_expected(image: np.ndarray, size: tuple[int, int], reduce: str) -> np.ndarray:
    if image.dtype == np.int8:  # the reference has no int8; PyTorch is the witness
        return torch_adaptive(image, size, reduce)
    return reference.adaptive_pool(image, size, reduce)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adaptive_case(), st.integers(1, 3), st.sampled_from([64, 1 << 20]))
def test_adaptive_equals_reference(case, threads, band_bytes):
    image, size, reduce = case
    want = adaptive_expected(image, size, reduce)
    original = _cpu.BAND_BYTES
    _cpu.BAND_BYTES = band_bytes  # tiny bands: many per image
    try:
        out = pooling.adaptive_pool_tensor(as_tensor(image), size, reduce)
        got = as_image(out, image.ndim)
        if threads > 1:  # split between threads: the same values
            x = as_tensor(image)
            again = torch.empty_like(out)
            assert _cpu.adaptive_into(x, again, reduce, threads=threads)
            np.testing.assert_array_equal(as_image(again, image.ndim), got)
    finally:
        _cpu.BAND_BYTES = original
    assert_same(got, want)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adaptive_case())
def test_adaptive_gpu_choices_run_on_the_cpu(case):
    image, size, reduce = case
    original = pooling._on_cpu
    pooling._on_cpu = lambda x: False
    try:
        got = as_image(pooling.adaptive_pool_tensor(as_tensor(image), size, reduce), image.ndim)
    finally:
        pooling._on_cpu = original
    assert_same(got, adaptive_expected(image, size, reduce))


@pytest.mark.parametrize("path", ["cpu", "gpu-choices"])
@pytest.mark.parametrize("reduce", ["avg", "max", "min"])
def test_adaptive_keeps_inf_and_nan_as_torch_does(path, reduce, monkeypatch):
    # issue 9 item 13: adaptive avg turned +-inf into NaN (a mask multiplied inf by 0)
    if path == "gpu-choices":
        on_gpu_path(monkeypatch)
    rows = [
        [1, np.inf, 2, 3, 4],
        [-np.inf, 5, 6, np.inf, 1],
        [np.nan, 1, 2, 3, 4],
        [1, 2, -np.inf, -np.inf, 0],
    ]
    image = np.array(rows, np.float32)
    for size in [(1, 3), (4, 3), (2, 2), (3, 4), (1, 1), (4, 5), (5, 7)]:
        got = poolcli.adaptive_pool(image, size, reduce)
        want = torch_adaptive(image, size, reduce)
        np.testing.assert_array_equal(got, want)  # NaN where torch has NaN, inf where torch has inf


def test_adaptive_inf_example_from_the_issue():
    # issue 9 item 13
    got = poolcli.adaptive_pool(np.array([[1, np.inf, 2, 3, 4]], np.float32), (1, 3))
    np.testing.assert_array_equal(got, [[np.inf, np.inf, 3.5]])


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (64, 64), (100, 75)])
def test_adaptive_rgb_uint8_sizes_from_the_benchmark(size, rng):
    image = random_image(rng, (300, 256, 3), np.uint8)
    assert_same(poolcli.adaptive_pool(image, size), reference.adaptive_pool(image, size, "avg"))


def test_adaptive_planar_and_sliced_tensors(rng):
    batch = torch.from_numpy(random_image(rng, (2, 3, 37, 29), np.uint8))
    for t in (batch, batch.contiguous(memory_format=torch.channels_last), batch[:, :, 2:, ::2]):
        out = poolcli.adaptive_pool(t, (5, 4))
        for n in range(2):
            image = np.ascontiguousarray(t[n].permute(1, 2, 0).numpy())
            np.testing.assert_array_equal(out[n].permute(1, 2, 0).numpy(), reference.adaptive_pool(image, (5, 4)))


# --- adaptive: sizes that cannot be allocated ------------------------------------------------------


def test_adaptive_refuses_an_absurd_size_at_once():
    # issue 9 item 16: 99999999999999999999x1 never ended
    image = np.zeros((64, 96, 3), np.uint8)
    # refused where it is parsed (each side at most 2**31 - 1), before the output-size check is reached
    with pytest.raises(ParameterError, match=r"size 99999999999999999999x1: each side must be at most 2,147,483,647"):
        poolcli.adaptive_pool(image, "99999999999999999999x1")


def test_adaptive_refuses_just_over_the_cap():
    # issue 9 item 16: the cap is on values (N * C * rows * cols), checked before allocating
    image = np.zeros((4, 4), np.uint8)
    assert pooling.MAX_OUTPUT_VALUES == 2**31
    with pytest.raises(ParameterError, match=r"65536 x 32769 x 1 values of uint8"):
        poolcli.adaptive_pool(image, (2**16, 2**15 + 1))


def test_adaptive_refuses_more_than_the_machine_has(monkeypatch):
    # issue 9 item 16: an output larger than the memory there is
    monkeypatch.setattr(pooling, "_device_memory", lambda x: 10**6)
    with pytest.raises(ParameterError, match=r"larger than this machine's memory \(976.6 KiB\)"):
        poolcli.adaptive_pool(np.zeros((64, 96, 3), np.uint8), (1000, 1000))


def test_adaptive_large_upsampling_is_bounded(rng):
    # issue 9 item 16: (10000, 10000) from 64x96 took 47 s and 11 GB; scaled down here
    image = random_image(rng, (16, 24, 3), np.uint8)
    out = poolcli.adaptive_pool(image, (1500, 2000))
    assert out.shape == (1500, 2000, 3)
    np.testing.assert_array_equal(out, torch_adaptive(image, (1500, 2000), "avg"))  # the reference would take minutes


@pytest.mark.parametrize(
    "failure",
    [
        MemoryError(),
        RuntimeError("[enforce fail at alloc_cpu.cpp:124] DefaultCPUAllocator: can't allocate memory: you tried"),
        MemoryError("Unable to allocate 931. GiB for an array with shape (1000000000000,) and data type uint8"),
    ],
)
@pytest.mark.parametrize("call", ["pool", "adaptive", "global"])
def test_allocation_failures_become_poolcli_errors(failure, call, monkeypatch):
    # issue 9 item 16: an allocation failure anywhere in pooling is a PoolcliError, not a raw RuntimeError
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(pooling, "_empty", fail)
    monkeypatch.setattr(_cpu, "global_reduce", fail)
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(OutOfMemoryError, match=r"^out of memory: ") as info:
        if call == "pool":
            poolcli.pool(image, "max")
        elif call == "adaptive":
            poolcli.adaptive_pool(image, 3)
        else:
            poolcli.global_pool(image)
    assert isinstance(info.value, PoolcliError) and isinstance(info.value, MemoryError)


def test_other_runtime_errors_are_not_called_memory(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("some other failure")

    monkeypatch.setattr(pooling, "_empty", fail)
    with pytest.raises(RuntimeError, match="some other failure"):
        poolcli.pool(np.zeros((8, 8), np.uint8), "max")


# --- global --------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 30),
    st.sampled_from([None, 1, 2, 3, 4, 5]),
    st.sampled_from(REFERENCE_DTYPES),
    st.sampled_from(["avg", "max", "min"]),
    st.integers(0, 2**32 - 1),
)
def test_global_equals_reference(h, w, channels, dtype, reduce, seed):
    shape = (h, w) if channels is None else (h, w, channels)
    image = random_image(np.random.default_rng(seed), shape, dtype)
    got, want = poolcli.global_pool(image, reduce), reference.global_pool(image, reduce)
    assert got.dtype == want.dtype
    if reduce == "avg" and image.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)  # integer means: the exact sum, divided once


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32])
def test_global_mean_of_extreme_values_is_exact(dtype):
    info = np.iinfo(dtype)
    image = np.full((1024, 1536, 3), info.max, dtype)
    image[::2, :, 1] = info.min
    got = poolcli.global_pool(image, "avg")
    count = image.shape[0] * image.shape[1]
    want = [int(info.max), (int(info.max) + int(info.min)) / 2, int(info.max)]
    assert got.tolist() == [float(want[0]), float(want[1]), float(want[2])]
    assert int(image[:, :, 1].astype(np.int64).sum()) / count == got[1]


@pytest.mark.parametrize("path", ["cpu", "gpu-choices"])
def test_global_inf_and_nan_as_torch(path, monkeypatch):
    if path == "gpu-choices":
        on_gpu_path(monkeypatch)
    image = np.array([[[1, np.nan, np.inf], [2, 5, -np.inf]]], np.float32)
    np.testing.assert_array_equal(poolcli.global_pool(image, "max"), [2, np.nan, np.inf])
    np.testing.assert_array_equal(poolcli.global_pool(image, "min"), [1, np.nan, -np.inf])
    np.testing.assert_array_equal(poolcli.global_pool(image, "avg"), [1.5, np.nan, np.nan])


def test_global_tensor_layouts(rng):
    batch = torch.from_numpy(random_image(rng, (2, 3, 21, 17), np.uint16))
    for t in (batch, batch.contiguous(memory_format=torch.channels_last), batch[:, :, 1:, ::3]):
        for reduce in ("avg", "max", "min"):
            out = poolcli.global_pool(t, reduce)
            for n in range(2):
                image = np.ascontiguousarray(t[n].permute(1, 2, 0).numpy())
                np.testing.assert_array_equal(out[n].numpy(), reference.global_pool(image, reduce))

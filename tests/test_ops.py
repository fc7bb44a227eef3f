"""The op registry, and one battery that every declared op runs (PyTorch's OpInfo idea).

Adding an op to :data:`poolcli.ops.OPS` adds it to every test here: its
results against its NumPy reference on random images, knobs and dtypes, on
single images and (N, C, H, W) batches, contiguous or not, on every device
present; its command, help, output names and ``compare`` panels; its
refusal of knobs it does not take. Knobs and parameters are drawn from what
the declaration says the op takes (its knobs, bounds, choices, kernel limit).
An op may refuse an image's values (stochastic pooling, negative values);
then its reference must refuse them too, and the case goes on with the
negative values clipped to 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import poolcli
from poolcli import ops, reference
from poolcli.cli import cli
from poolcli.errors import ImageShapeError, ParameterError
from poolcli.spec import PoolSpec

from .conftest import DEVICES
from .test_pooling import assert_pooled_equal, random_image

IMAGE_OPS = [name for name in ops.OPS if ops.OPS[name].kind != "global"]
DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "float32", "float64"]


def _param_values(param: ops.Param) -> st.SearchStrategy:
    if param.choices is not None:
        return st.sampled_from(param.choices)
    if isinstance(param.default, bool):
        return st.booleans()
    low = param.low if param.low is not None else -10
    high = param.high if param.high is not None else 10
    if isinstance(param.default, int):
        return st.integers(int(low), int(min(high, low + 6)))
    whole = [float(v) for v in range(math.ceil(low), int(min(high, low + 4)) + 1) if v > low or not param.low_open]
    return st.one_of(
        st.sampled_from(whole + ([math.inf] if param.inf else [])),
        st.floats(low, min(high, low + 20), allow_nan=False, exclude_min=param.low_open),
    )


@st.composite
def op_case(draw, name: str) -> tuple[np.ndarray, PoolSpec]:
    """An image and a valid spec for the op ``name``, drawn from what its declaration says it takes."""
    info = ops.OPS[name]
    dtype = draw(st.sampled_from(DTYPES))
    knobs: dict = {}
    if "kernel" in info.knobs:
        largest = min(4, info.kernel_max or 4) if info.kind == "window" else 3
        kh, kw = draw(st.integers(1, largest)), draw(st.integers(1, largest))
        knobs["kernel"] = (kh, kw)
    if info.kind == "window":
        knobs["stride"] = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        same = "padding" in info.knobs and draw(st.booleans()) and draw(st.booleans())
        if "padding" in info.knobs:
            knobs["padding"] = "same" if same else (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
        if "dilation" in info.knobs:
            knobs["dilation"] = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        if "ceil_mode" in info.knobs:
            knobs["ceil_mode"] = False if same else draw(st.booleans())
        if "count_include_pad" in info.knobs:
            knobs["count_include_pad"] = draw(st.booleans())
        if "divisor" in info.knobs:
            knobs["divisor"] = draw(st.one_of(st.none(), st.integers(1, 30)))
    if "ratio" in info.knobs and draw(st.booleans()):
        knobs["ratio"] = (draw(st.floats(0.05, 0.95)), draw(st.floats(0.05, 0.95)))
    elif "size" in info.knobs:
        knobs["size"] = (draw(st.one_of(st.none(), st.integers(1, 12))), draw(st.one_of(st.none(), st.integers(1, 12))))
    params = {p.name: draw(_param_values(p)) for p in info.params}
    spec = PoolSpec.make(name, **knobs, **params)
    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    image = random_image(
        np.random.default_rng(draw(st.integers(0, 2**32 - 1))), shape + ((channels,) if channels else ()), dtype
    )
    return image, spec


def _fits(image: np.ndarray, spec: PoolSpec) -> bool:
    try:
        spec.output_size(*image.shape[:2])
    except ImageShapeError:  # the window (or, fractional, the output) does not fit
        with pytest.raises(ValueError):  # the reference refuses it too
            reference.apply(image, spec)
        return False
    return True


def _accepted(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """``image``, or, if the op refuses its values (and so does its reference), the image with negatives clipped to 0."""
    try:
        poolcli.pool(image, spec)
    except ImageShapeError:
        with pytest.raises(ValueError):
            reference.apply(image, spec)
        return np.clip(image, 0, None).astype(image.dtype)
    return image


# --- the battery --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IMAGE_OPS)
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_op_equals_its_reference(name, data):
    image, spec = data.draw(op_case(name))
    assume(_fits(image, spec))
    image = _accepted(image, spec)
    got = poolcli.pool(image, spec)
    assert got.dtype == image.dtype and got.ndim == image.ndim
    assert got.shape[:2] == spec.output_size(*image.shape[:2])
    assert_pooled_equal(got, reference.apply(image, spec))


@pytest.mark.parametrize("name", IMAGE_OPS)
@pytest.mark.parametrize("device", DEVICES)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_batch_tensor_equals_each_image_alone(name, device, data):
    image, spec = data.draw(op_case(name))
    assume(_fits(image, spec))
    rng = np.random.default_rng(1)
    images = [image, random_image(rng, image.shape, image.dtype), random_image(rng, image.shape, image.dtype)]
    if any(_accepted(im, spec) is not im for im in images):
        images = [np.clip(im, 0, None).astype(im.dtype) for im in images]
    hwc = np.stack([im if im.ndim == 3 else im[:, :, None] for im in images])
    batch = torch.from_numpy(hwc).permute(0, 3, 1, 2).to(device)
    pooled = poolcli.pool(batch, spec)
    assert pooled.device.type == torch.device(device).type and pooled.dtype == batch.dtype
    for i, im in enumerate(images):
        one = pooled[i].permute(1, 2, 0).cpu().numpy()
        assert_pooled_equal(one if im.ndim == 3 else one[:, :, 0], poolcli.pool(im, spec))


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_non_contiguous_and_read_only_inputs(name, rng):
    image, spec = _example(name, rng)
    view = np.asfortranarray(image)[::-1][::-1]  # same values, other strides
    view.flags.writeable = False
    assert_pooled_equal(poolcli.pool(view, spec), poolcli.pool(np.ascontiguousarray(image), spec))
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[
        None
    ]  # contiguous NCHW, not channels-last
    assert_pooled_equal(poolcli.pool(tensor, spec)[0].permute(1, 2, 0).numpy(), poolcli.pool(image, spec))


def _example(name: str, rng: np.random.Generator) -> tuple[np.ndarray, PoolSpec]:
    info = ops.OPS[name]
    knobs = {"kernel": 3, "stride": 2, "padding": 1} if info.kind == "window" else {"size": (5, 4)}
    return random_image(rng, (17, 13, 3), np.uint8), PoolSpec.make(name, **{k: v for k, v in knobs.items()
                                                                           if k in info.knobs})  # fmt: skip


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_the_api_takes_each_ops_own_defaults(name, rng):
    needs = {"size": (5, 4)} if "size" in ops.OPS[name].knobs else {}
    image = random_image(rng, (17, 13, 3), np.uint8)
    assert_pooled_equal(poolcli.pool(image, name, **needs), reference.apply(image, PoolSpec.make(name, **needs)))


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_every_op_refuses_a_parameter_it_does_not_have(name):
    with pytest.raises(ParameterError, match=f"nosuch 1: is not a parameter of {name} pooling"):
        PoolSpec.make(name, **({"size": 3} if "size" in ops.OPS[name].knobs else {}), nosuch=1)


def test_global_equals_its_reference(rng):
    for dtype in DTYPES:
        image = random_image(rng, (9, 7, 3), dtype)
        for reduce in ops.REDUCE_CHOICES:
            spec = PoolSpec.make("global", reduce=reduce)
            assert_pooled_equal(poolcli.global_pool(image, reduce), reference.apply(image, spec))


# --- what the rest of poolcli reads from the registry ----------------------------------------------


@pytest.mark.parametrize("name", list(ops.OPS))
def test_every_op_has_a_command_with_help_and_an_example(name, invoke):
    assert name in cli.all_commands()
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert ops.OPS[name].summary.split(":")[0] in " ".join(result.stdout.split())
    assert f"poolcli {name}" in result.stdout.split("Example:")[1]
    for param in ops.OPS[name].params:
        assert param.flag in result.stdout


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_every_op_names_its_outputs_so_folder_runs_skip_them(name, rng):
    _, spec = _example(name, rng)
    assert ops.is_output_name(f"photo.{spec.tag()}.png")
    assert ops.is_output_name(f"photo.{spec.tag()}.compare.png")
    assert not ops.is_output_name(f"photo-{spec.tag()}.png")


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_every_op_can_be_a_compare_panel(name):
    assert set(ops.OPS[name].panels) <= set(ops.panel_names())
    for panel in ops.OPS[name].panels:
        info, _ = ops.panel_op(panel)
        assert info.name == name


def test_registry_entries_point_at_real_functions():
    from poolcli import pooling

    for info in ops.OPS.values():
        assert callable(getattr(reference, info.reference)), info.name
        assert (info.separable is None) != (info.kernel is None), info.name
        if info.kernel is not None:
            assert callable(getattr(pooling, info.kernel)), info.name


def test_unknown_op():
    with pytest.raises(ParameterError, match=rf"op mean: unknown \(poolcli has {', '.join(ops.OPS)}\)"):
        ops.get("mean")

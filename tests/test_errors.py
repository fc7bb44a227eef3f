"""The error hierarchy: facts carried, messages for Python callers, and errors that cross process boundaries."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import poolcli
from poolcli.errors import (
    ImageTooLargeError,
    OutputExistsError,
    ParameterError,
    PoolcliError,
    StrictError,
    TruncatedImageError,
    UsageProblem,
    WindowTooLargeError,
)

from .files import bilevel_png, made, restart_jpeg


@pytest.mark.parametrize(
    "error",
    [
        ParameterError("kernel", 0, "must be at least 1"),
        ImageTooLargeError(20000, 20000, 1000, path="bomb.png"),
        WindowTooLargeError((1, 5), (2, 2)),
        OutputExistsError("out.png"),
        TruncatedImageError("corrupt or truncated: cut", path="a.jpg"),
    ],
)
def test_errors_keep_their_facts_across_pickling(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error) and vars(back) == vars(error)


def test_usage_problems_are_value_errors_and_poolcli_errors():
    assert issubclass(ParameterError, (UsageProblem, ValueError))
    assert issubclass(WindowTooLargeError, (PoolcliError, ValueError))


def test_library_messages_name_no_command_line_flags(tmp_path):
    """Issue 9 item 40: a Python caller is told the facts; the command line adds its flags."""
    messages = []
    image = np.zeros((1, 5), np.uint8)
    (tmp_path / "out.png").write_bytes(b"x")
    attempts = [
        lambda: poolcli.pool(image, "max"),
        lambda: poolcli.write_image(tmp_path / "out.png", image),
        lambda: poolcli.read_image(made(tmp_path / "bomb.png", bilevel_png(20000, 20000, rows=1))),
        lambda: poolcli.read_image(made(tmp_path / "cut.jpg", restart_jpeg()[:-2])),
        lambda: poolcli.read_image(made(tmp_path / "cut.jpg", restart_jpeg()[:-2]), allow_truncated=True, strict=True),
        lambda: poolcli.pool(image, "max", kernel=0),
    ]
    for attempt in attempts:
        with pytest.raises(PoolcliError) as info:
            attempt()
        messages.append(str(info.value))
    assert all("--" not in m for m in messages), messages
    assert messages[1] == f"{tmp_path / 'out.png'}: exists"
    assert messages[2].endswith(
        "image too large: 20000x20000 = 400,000,000 pixels, over the limit of 89,478,485 pixels"
    )
    assert isinstance(StrictError("x"), PoolcliError)

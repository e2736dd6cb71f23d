"""Window arrays are refused with one line naming the field and the first offending index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqnetquake.errors import InputError
from seqnetquake.windowcheck import INSTRUMENT_RANGES, check_windows

CHANNELS = ("ne_cm3", "te_k")


def _good(n: int = 4, T: int = 5) -> np.ndarray:
    X = np.empty((n, T, 2), np.float32)
    X[..., 0], X[..., 1] = 1e5, 2000.0
    return X


def test_good_windows_pass():
    check_windows(_good(), np.array([0, 1, 2, 1]), T=5, channels=CHANNELS)


@pytest.mark.parametrize(("edit", "field", "where"), [
    (lambda X: X.__setitem__((2, 3, 0), np.nan), "X[ne_cm3]", "window 2, sample 3"),
    (lambda X: X.__setitem__((1, 0, 1), -1000.0), "X[te_k]", "window 1, sample 0"),
    (lambda X: X.__setitem__((3, 4, 0), 1e12), "X[ne_cm3]", "window 3, sample 4"),
    (lambda X: X.__setitem__((0, 1, 1), np.inf), "X[te_k]", "window 0, sample 1"),
])
def test_bad_values_name_field_and_index(edit, field, where):
    X = _good()
    edit(X)
    with pytest.raises(InputError) as err:
        check_windows(X, T=5, channels=CHANNELS, source="a.npz")
    message = str(err.value)
    assert message.startswith(f"a.npz: {field}:") and where in message
    assert "\n" not in message


def test_shape_and_labels():
    with pytest.raises(InputError, match="T = 5, the model expects T = 20"):
        check_windows(_good(), T=20, channels=CHANNELS)
    with pytest.raises(InputError, match="2 channels, the model expects 3"):
        check_windows(_good(), channels=("a", "b", "c"))
    with pytest.raises(InputError, match=r"label 7 not in \{0, 1, 2\} at window 2"):
        check_windows(_good(), np.array([0, 1, 7, 1]))


def test_ranges_equal_the_tracks_suite():
    suite = json.loads(Path(__file__).parents[1].joinpath("expectations/tracks.json").read_text())
    bounds = {e["kwargs"]["column"]: (e["kwargs"]["min_value"], e["kwargs"]["max_value"])
              for e in suite["expectations"]
              if e["type"] == "expect_column_values_to_be_between"
              and e["kwargs"]["column"] in INSTRUMENT_RANGES}
    assert bounds == INSTRUMENT_RANGES

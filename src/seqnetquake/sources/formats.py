"""The one table of raw satellite formats: satellite -> its format module.

The tracks stage (reader, file suffix, survey cadence), the simulator (writer) and
``seqnetquake check`` (checker, by file suffix) all look a format up here, so adding a
satellite means one new module satisfying :class:`~seqnetquake.sources.base.SourceFormat` and
one row below.
"""

from __future__ import annotations

from pathlib import Path

from seqnetquake.sources import cses, demeter
from seqnetquake.sources.base import SourceFormat

FORMATS: dict[str, SourceFormat] = {"cses": cses, "demeter": demeter}
# Lower-cased file suffix -> format ("x.dat" is a DEMETER file as much as "x.DAT").
BY_SUFFIX: dict[str, SourceFormat] = {f.SUFFIX.lower(): f for f in FORMATS.values()}


def format_for(satellite: str) -> SourceFormat:
    """The format of ``satellite``'s raw files; ValueError naming the known ones otherwise."""
    try:
        return FORMATS[satellite]
    except KeyError:
        raise ValueError(f"unknown satellite {satellite!r} (known: "
                         f"{', '.join(FORMATS)})") from None


def format_of_file(path: str | Path) -> SourceFormat | None:
    """The raw format a file's suffix names (case-insensitive), None when it names none."""
    return BY_SUFFIX.get(Path(path).suffix.lower())

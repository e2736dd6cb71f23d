"""``seqnetquake check``: report what is wrong with input files before any stage ingests them.

Dispatches on the file type; every problem is one ``PATH: FIELD: problem`` line. A directory
is expanded to the supported files under it, so ``seqnetquake check data/raw/cses`` audits a
whole dump. Files are only read, never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from seqnetquake.errors import InputError

SUPPORTED = (".h5", ".dat", ".csv")


def _checker(path: Path) -> Callable[[Path], list[str]] | None:
    suffix = path.suffix.lower()
    if suffix == ".h5":
        from seqnetquake.sources import cses

        return cses.check_file
    if suffix == ".dat":
        from seqnetquake.sources import demeter

        return demeter.check_file
    if suffix == ".csv":
        from seqnetquake.sources import catalog_sources

        return catalog_sources.check_file
    return None


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ))
        else:
            out.append(path)
    return out


def check_paths(paths: list[Path]) -> list[str]:
    """One line per problem over all ``paths``; an empty list means every file is fine."""
    lines: list[str] = []
    for path in _expand([Path(p) for p in paths]):
        if not path.exists():
            lines.append(str(InputError(path, "file", "not found")))
            continue
        check = _checker(path)
        if check is None:
            lines.append(str(InputError(path, "file", "unsupported file type")))
            continue
        lines.extend(check(path))
    return lines

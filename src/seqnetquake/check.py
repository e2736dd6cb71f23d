"""``seqnetquake check``: report what is wrong with input files before any stage ingests them.

Dispatches on the file type; every problem is one ``PATH: FIELD: problem`` line. A directory
is expanded to the supported files under it, so ``seqnetquake check data/raw/cses`` audits a
whole dump. Files are only read, never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from seqnetquake.errors import InputError
from seqnetquake.inputscan import path_problem, scan
from seqnetquake.sources import catalog_sources
from seqnetquake.sources.formats import BY_SUFFIX, format_of_file

CATALOG_SUFFIX = ".csv"
SUPPORTED = (*BY_SUFFIX, CATALOG_SUFFIX)  # (".h5", ".dat", ".csv")


def _checker(path: Path) -> Callable[[Path], list[str]] | None:
    source = format_of_file(path)
    if source is not None:
        return source.check_file
    if path.suffix.lower() == CATALOG_SUFFIX:
        return catalog_sources.check_file
    return None


def check_report(paths: list[Path]) -> tuple[list[str], int]:
    """(one line per problem over all ``paths``, number of files actually checked).

    A directory is expanded to its supported files; links that loop or dangle, and
    directories named like data files, are problems, not skipped.
    """
    lines: list[str] = []
    checked = 0
    for path in map(Path, paths):
        problem = path_problem(path, SUPPORTED)
        if problem is not None:
            lines.append(str(problem))
            continue
        if path.is_dir():
            files, problems = scan(path, SUPPORTED)
            lines.extend(str(p) for p in problems)
            if not files and not problems:
                lines.append(str(InputError(path, "file", "no supported input files "
                                            f"({', '.join(SUPPORTED)})")))
        else:
            files = [path]
        for file in files:
            check = _checker(file)
            if check is None:
                lines.append(str(InputError(file, "file", "unsupported file type")))
                continue
            lines.extend(check(file))
            checked += 1
    return lines, checked


def check_paths(paths: list[Path]) -> list[str]:
    """One line per problem over all ``paths``; an empty list means every file is fine."""
    return check_report(paths)[0]

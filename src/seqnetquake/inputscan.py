"""Finding input files under a folder without being fooled by the file system.

``check`` and ``tracks`` both walk raw-data folders. A symbolic-link loop, a dangling link or a
directory named like a data file (``x.h5/``, ``DMT_N1_....DAT/``) is reported as a problem
(an :class:`~seqnetquake.errors.InputError`), never skipped in silence or walked forever.
Symlinked directories are followed once; hidden entries are ignored.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from seqnetquake.errors import InputError


def path_problem(path: Path, suffixes: tuple[str, ...]) -> InputError | None:
    """What is wrong with one path that should be a data file, or None when it is a file."""
    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return InputError(path, "file", "symbolic link loop")
        if path.is_symlink():
            return InputError(path, "file", f"dangling symbolic link (-> {os.readlink(path)})")
        return InputError(path, "file", "not found")
    if path.is_dir():
        if path.suffix.lower() in suffixes:
            return InputError(path, "file", "a directory, not a data file")
        return None
    if not path.is_file():
        return InputError(path, "file", "not a regular file")
    return None


def scan(
    root: Path, suffixes: tuple[str, ...], skip: Callable[[Path], bool] = lambda p: False
) -> tuple[list[Path], list[InputError]]:
    """(data files under ``root`` with one of ``suffixes``, sorted; problems found on the way)."""
    root = Path(root)
    files: list[Path] = []
    problems: list[InputError] = []
    seen: set[str] = set()

    def walk(directory: Path) -> None:
        real = os.path.realpath(directory)
        if real in seen:
            problems.append(InputError(directory, "file", f"symbolic link loop (-> {real})"))
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append(InputError(directory, "file", f"cannot list: {exc.strerror}"))
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or skip(path):
                continue
            data_like = path.suffix.lower() in suffixes
            problem = path_problem(path, suffixes)
            if problem is not None:
                if data_like or entry.is_symlink():
                    problems.append(problem)
                continue
            if path.is_dir():
                walk(path)
            elif data_like:
                files.append(path)

    walk(root)
    return sorted(files), problems

"""Outputs appear complete or not at all: write to a temporary name, rename when done."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: writing a frame needs no pandas import here
    import pandas as pd


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only on success.

    Works for files and directories. On any exception the temporary is removed and ``final``
    is left as it was (absent, or the previous complete version).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    # The writer's pid in the name tells a stale temporary (dead writer) from a live one.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}-", suffix=".tmp",
                                    dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final: str | Path) -> list[Path]:
    """Remove ``.<name>.*.tmp`` left beside ``final`` by a writer that died (kill -9, power
    loss); a temporary whose writer (pid in its name) still runs is left alone."""
    final = Path(final)
    removed = []
    if not final.parent.is_dir():
        return removed
    for tmp in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        owner = tmp.name[len(final.name) + 2 :].split("-", 1)[0]
        if owner.isdigit() and (int(owner) == os.getpid() or pid_alive(int(owner))):
            continue
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

"""The failures a user sees as one line: bad input (``PATH: FIELD: problem``), a failed
validation, a refused registry action."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A bad input file: names the file, the field and (where it applies) the row."""

    def __init__(self, path: str | Path, field: str, problem: str, row: int | None = None):
        self.path = str(path)
        self.field = field
        self.problem = problem
        self.row = row
        where = f" (row {row})" if row is not None else ""
        super().__init__(f"{self.path}: {field}: {problem}{where}")

    def __reduce__(self) -> tuple:
        # Rebuilt from its parts, so that it crosses a process pool (tracks.workers) intact.
        return (type(self), (self.path, self.field, self.problem, self.row))


class ValidationFailed(RuntimeError):
    """A Great Expectations suite failed; the message is the readable summary."""


class RegistryError(RuntimeError):
    """A refused registry action; the message is the one-line reason shown to the user."""

"""SIGTERM and SIGINT as an orderly exit: the stage's MLflow runs end KILLED, temporaries go.

The CLI installs :func:`handlers` around every command. A signal raises :class:`Interrupted`
(a ``BaseException``, so no ``except Exception`` in a library swallows it) in the main thread;
unwinding removes ``atomic_path`` temporaries and keeps the previous complete output, and
MLflow's context managers end the runs (as FAILED). :func:`mark_killed` then sets the runs
that were active when the signal came to KILLED. Stop a pipeline by signalling its process
group (``kill -TERM -- -PGID``): SIGTERM to ``dvc`` alone leaves the stage process running.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):  # noqa: N818 - an exit, like KeyboardInterrupt
    """The process received SIGTERM or SIGINT; ``run_ids`` were the active MLflow runs."""

    def __init__(self, signum: int, run_ids: list[str]):
        self.signum = signum
        self.run_ids = run_ids
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _active_run_ids() -> list[str]:
    """The MLflow fluent run stack (outermost first), read from memory only: no I/O here."""
    try:
        from mlflow.tracking import fluent  # deferred: heavy
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return []
    stack = getattr(fluent, "_active_run_stack", None)
    runs = stack.get() if stack is not None and hasattr(stack, "get") else None
    if runs is None:
        run = fluent.active_run()
        runs = [run] if run is not None else []
    return [run.info.run_id for run in runs]


@contextlib.contextmanager
def handlers() -> Iterator[None]:
    """Turn SIGTERM/SIGINT into :class:`Interrupted` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handle(signum: int, frame: object) -> None:
        if fired:  # a second signal while unwinding: let the cleanup finish
            return
        fired.append(signum)
        raise Interrupted(signum, _active_run_ids())

    previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def mark_killed(run_ids: list[str], reason: str) -> list[str]:
    """End ``run_ids`` as KILLED (after the context managers ended them FAILED)."""
    if not run_ids:
        return []
    import mlflow  # deferred: heavy
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    done = []
    for run_id in run_ids:
        try:
            client.set_terminated(run_id, status="KILLED")
            client.set_tag(run_id, "killed_reason", reason)
            done.append(run_id)
        except MlflowException:
            continue
    return done

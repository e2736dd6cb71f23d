"""A local MLflow tracking server backed by PostgreSQL: the store for many concurrent writers.

sqlite (``mlflow.db`` at the repository root) stays the zero-set-up default for one user. When
several processes write runs at once (parallel searches, Spark workers), ``seqnetquake server``
(or ``make server``) starts:

1. a PostgreSQL cluster private to the project, in ``server.dir``/pg (git-ignored), created on
   first use with Debian's ``initdb`` and listening on 127.0.0.1 only (``server.pg_port``,
   trust authentication on the loopback: a single-machine set-up, not a shared service);
2. ``mlflow server`` on 127.0.0.1 (``server.port``) with that database as backend store and
   ``server.dir``/artifacts as artifact root, served through the server (``mlflow-artifacts:``),
   so clients and Spark workers need nothing but the URL.

Point runs at it with ``MLFLOW_TRACKING_URI=http://127.0.0.1:PORT`` (or ``mlflow.tracking_uri``
in params.yaml). PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` user of Debian's package (``runuser``); if that user cannot reach the project
folder, the cluster goes to ``/tmp/seqnetquake-pg-<hash of the folder>`` instead (said once).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from seqnetquake.config import ServerConfig

DB_USER = "seqnetquake"
DB_NAME = "mlflow"
CLUSTER_OWNER = "postgres"  # the system user Debian's postgresql package creates


class ServerError(RuntimeError):
    """The tracking server or its database could not be set up, started or stopped."""


@dataclass(frozen=True)
class Server:
    """Where one project's server lives and how it is reached."""

    root: Path  # server.dir, absolute
    port: int
    pg_port: int
    workers: int = 2

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def pid_file(self) -> Path:
        return self.root / "mlflow.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "mlflow.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_uri(self) -> str:
        # The driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @classmethod
    def from_config(cls, cfg: ServerConfig, base: Path) -> Server:
        root = Path(cfg.dir)
        root = root if root.is_absolute() else base / root
        return cls(root.resolve(), cfg.port, cfg.pg_port, cfg.workers)


# --------------------------------------------------------------------------- PostgreSQL
def pg_bin_dir() -> Path:
    """Debian's PostgreSQL binaries: the newest /usr/lib/postgresql/<ver>/bin, else PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ServerError("PostgreSQL not found: install Debian's package "
                      "(apt-get update && apt-get install -y postgresql)")


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the cluster owner then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", CLUSTER_OWNER, "--", *cmd]


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ServerError(f"{what} failed: {detail[-1] if detail else proc.returncode}")
    return proc


def cluster_dir(server: Server) -> Path:
    """``root/pg``, or a /tmp folder when root runs the server and ``postgres`` can't reach it."""
    inside = server.root / "pg"
    if os.geteuid() != 0:
        return inside
    server.root.mkdir(parents=True, exist_ok=True)
    reachable = subprocess.run(_as_owner(["test", "-x", str(server.root)]),
                               capture_output=True).returncode == 0
    if reachable:
        return inside
    digest = hashlib.sha256(str(server.root).encode()).hexdigest()[:10]
    outside = Path(f"/tmp/seqnetquake-pg-{digest}")
    print(f"server: user {CLUSTER_OWNER} cannot reach {server.root}; cluster in {outside}",
          file=sys.stderr)
    return outside


def _owned_dir(path: Path) -> None:
    """A folder the cluster owner can write (0700, as PostgreSQL wants for its data)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(path, CLUSTER_OWNER, CLUSTER_OWNER)
    path.chmod(0o700)


def ensure_cluster(server: Server) -> Path:
    """Create the cluster on first use (initdb); return its data folder."""
    data = cluster_dir(server) / "data"
    if (data / "PG_VERSION").exists():
        return data
    _owned_dir(data.parent)
    _owned_dir(data)
    _run(_as_owner([str(pg_bin_dir() / "initdb"), "-D", str(data), "-U", DB_USER,
                    "--auth=trust", "-E", "UTF8", "--no-instructions"]),
         f"initdb {data}")
    # Loopback TCP only; no Unix socket (a long project path would overflow its 107 bytes).
    with open(data / "postgresql.auto.conf", "a") as fh:
        fh.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                 "max_connections = 200\nfsync = on\n")
    return data


def postgres_running(data: Path) -> bool:
    proc = subprocess.run(_as_owner([str(pg_bin_dir() / "pg_ctl"), "-D", str(data), "status"]),
                          capture_output=True)
    return proc.returncode == 0


def start_postgres(server: Server) -> Path:
    data = ensure_cluster(server)
    if not postgres_running(data):
        _run(_as_owner([str(pg_bin_dir() / "pg_ctl"), "-D", str(data), "-l",
                        str(data / "postgres.log"), "-w", "-t", "60",
                        "-o", f"-p {server.pg_port}", "start"]),
             f"pg_ctl start ({data / 'postgres.log'})")
    _ensure_database(server)
    return data


def _ensure_database(server: Server) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=server.pg_port, user=DB_USER,
                            dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        conn.close()


def stop_postgres(server: Server) -> None:
    data = cluster_dir(server) / "data"
    if (data / "PG_VERSION").exists() and postgres_running(data):
        _run(_as_owner([str(pg_bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"]), "pg_ctl stop")


# --------------------------------------------------------------------------- mlflow server
def healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def mlflow_command(server: Server) -> list[str]:
    exe = Path(sys.executable).with_name("mlflow")
    return [str(exe) if exe.exists() else "mlflow", "server",
            "--backend-store-uri", server.backend_uri,
            "--artifacts-destination", server.artifacts.as_uri(), "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(server.port),
            "--workers", str(server.workers)]


def _read_pid(server: Server) -> int | None:
    try:
        pid = int(server.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _alive(pid: int) -> bool:
    """Running (a zombie child of ours counts as gone: it is reaped here)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:  # not our child: ask the kernel
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _launch(server: Server, detach: bool) -> subprocess.Popen:
    server.artifacts.mkdir(parents=True, exist_ok=True)
    if _read_pid(server) is not None or healthy(server.uri):
        raise ServerError(f"something already serves {server.uri} (seqnetquake server --stop)")
    start_postgres(server)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    with open(server.log_file, "ab") as log:
        out = {"stdout": log, "stderr": subprocess.STDOUT} if detach else {}
        proc = subprocess.Popen(mlflow_command(server), env=env, start_new_session=True, **out)
    server.pid_file.write_text(str(proc.pid))
    return proc


def _wait_healthy(server: Server, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not healthy(server.uri):
        if proc.poll() is not None:
            raise ServerError(f"mlflow server exited with {proc.returncode} "
                              f"(log: {server.log_file})")
        if time.monotonic() > deadline:
            raise ServerError(f"mlflow server not healthy after {timeout_s:.0f} s "
                              f"(log: {server.log_file})")
        time.sleep(0.5)


def start(server: Server, timeout_s: float = 180.0) -> str:
    """Start PostgreSQL and a detached ``mlflow server``; return the tracking URI when healthy."""
    proc = _launch(server, detach=True)
    try:
        _wait_healthy(server, proc, timeout_s)
    except ServerError:
        stop(server)
        raise
    return server.uri


def stop(server: Server) -> bool:
    """Stop the detached mlflow server (its own process group) and PostgreSQL."""
    pid = _read_pid(server)
    stopped = pid is not None
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # the group start_new_session made: uvicorn workers
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    server.pid_file.unlink(missing_ok=True)
    stop_postgres(server)
    return stopped


def serve_foreground(server: Server) -> int:
    """``seqnetquake server``: run until Ctrl-C (or SIGTERM), then stop both services."""
    proc = _launch(server, detach=False)

    def _terminate(signum, frame):  # noqa: ANN001, ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        _wait_healthy(server, proc, 180.0)
        print(f"MLflow tracking server: {server.uri}  (backend {server.backend_uri}, "
              f"artifacts {server.artifacts})\nexport MLFLOW_TRACKING_URI={server.uri}",
              file=sys.stderr, flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        server.pid_file.unlink(missing_ok=True)
        stop_postgres(server)

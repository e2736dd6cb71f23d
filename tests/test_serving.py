"""Serving through a real ``mlflow models serve`` on 127.0.0.1: one good window -> 200 with
probabilities; NaN, Te < 0 and a wrong T -> 400 with a one-line reason naming the channel;
the server keeps answering afterwards (a raw-channel model: the instrument ranges apply to
ne_cm3/te_k). Also the in-process pyfunc and the model's metadata, for raw and for residual
(ne_z, te_z: the embedded default's) channels."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from score_fixtures import Z_CHANNELS, register_tiny_model
from tiny_windows import window_set

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port: int, payload: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=payload.encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``make serve`` on a free port against a store holding a tiny registered model."""
    root = tmp_path_factory.mktemp("serve")
    uri = register_tiny_model(root)
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(SRC)}
    log = open(root / "server.log", "w")  # noqa: SIM115 - the server outlives this block
    # -o: never (re)install the venv from a test; the recipe is the one users run.
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "serve", f"PORT={port}"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
                time.sleep(1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make, mlflow and its uvicorn worker
        proc.wait(timeout=30)
        log.close()


def _body(X: np.ndarray) -> str:
    return json.dumps({"inputs": X.tolist()})  # NaN goes out as the JSON literal NaN


def test_served_model_validates_windows(server):
    good = window_set(1, seed=5).X
    status, body = _post(server, _body(good))
    assert status == 200, body
    proba = np.asarray(body["predictions"])
    assert proba.shape == (1, 3) and abs(proba.sum() - 1) < 1e-5

    nan = good.copy()
    nan[0, 3, 0] = np.nan
    status, body = _post(server, _body(nan))
    assert status == 400 and "predictions" not in body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["message"] == "input: X[ne_cm3]: non-finite value nan at window 0, sample 3"

    cold = good.copy()
    cold[0, 5, 1] = -1000.0
    status, body = _post(server, _body(cold))
    assert status == 400
    assert body["message"] == ("input: X[te_k]: -1000 outside the instrument range "
                               "[500, 10000] at window 0, sample 5")
    assert "\n" not in body["message"]

    status, body = _post(server, _body(good[:, :5]))
    assert status == 400 and body["message"] == (
        "input: X: window length T = 5, the model expects T = 10")
    status, body = _post(server, _body(np.concatenate([good, good[..., :1]], axis=2)))
    assert status == 400 and "3 channels, the model expects 2 (ne_cm3, te_k)" in body["message"]

    status, body = _post(server, _body(window_set(3, seed=6).X))  # still answering
    assert status == 200 and len(body["predictions"]) == 3


def test_pyfunc_refuses_bad_windows_in_process(tmp_path):
    import mlflow

    from seqnetquake.serving import InvalidWindows

    register_tiny_model(tmp_path)
    model = mlflow.pyfunc.load_model("models:/seqnetquake-cses@champion")
    meta = model.metadata.metadata
    assert meta["T"] == 10 and meta["channels"] == ["ne_cm3", "te_k"]
    X = window_set(2, seed=7).X
    X[1, 0, 0] = 1e9  # Ne x 1e4
    with pytest.raises(InvalidWindows, match=r"X\[ne_cm3\]: 1e\+09 outside the instrument"):
        model.predict(X)
    with pytest.raises(InvalidWindows, match="instrument range"):
        model.predict(np.zeros((1, 10, 2), dtype=np.float32))


def test_pyfunc_on_residual_channels(tmp_path):
    """The default's channels: windows as the npz files hold them; finiteness, T and channel
    count are checked, no instrument range (a z-score of -3 is a value, not a bad sensor)."""
    import mlflow

    from seqnetquake.serving import InvalidWindows

    register_tiny_model(tmp_path, channels=Z_CHANNELS)
    model = mlflow.pyfunc.load_model("models:/seqnetquake-cses@champion")
    meta = model.metadata.metadata
    assert meta["channels"] == list(Z_CHANNELS) and meta["background"]["days"] == 2
    X = np.random.default_rng(8).normal(0, 1, (3, 10, 2)).astype(np.float32)
    X[0, 0, 1] = -3.0
    proba = np.asarray(model.predict(X))
    assert proba.shape == (3, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    X[2, 4, 0] = np.nan
    with pytest.raises(InvalidWindows) as caught:
        model.predict(X)
    assert caught.value.message == "input: X[ne_z]: non-finite value nan at window 2, sample 4"
    with pytest.raises(InvalidWindows, match=r"1 channels, the model expects 2 \(ne_z, te_z\)"):
        model.predict(X[..., :1])


def test_models_logged_before_serving_py_still_load(tmp_path):
    """A model registered before serving.py existed carries this pyfunc_model.py: loaded in a
    process that has imported the package already (predict, score), its import resolves in
    the current package, so seqnetquake.registry must still name ClassifierModel."""
    import runpy

    from seqnetquake import serving

    old = tmp_path / "pyfunc_model.py"
    old.write_text("import mlflow\n\nfrom seqnetquake.registry import ClassifierModel\n\n"
                   "mlflow.models.set_model(ClassifierModel())\n")
    names = runpy.run_path(str(old))
    assert names["ClassifierModel"] is serving.ClassifierModel

"""The study: per-dataset training, study.json's contract keys, the tables, figures and alarms."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from model_fixtures import save_npz
from seqnetquake import study
from seqnetquake.predictions import Predictions
from tiny_windows import RF_HP, SEQNETQUAKE_HP, window_set, write_dataset

CONTRACT = ("mcc", "mcc_ci_low", "mcc_ci_high", "f1_weighted", "f1_weighted_ci_low",
            "f1_weighted_ci_high", "paper_f1", "paper_mcc")


def predictions(n: int, seed: int, skill: float, start: int = 0) -> tuple[Predictions, object]:
    """Predictions of tiny test windows: the true class gets ``skill`` extra probability."""
    ws = window_set(n, seed, start=start)
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3), n)
    proba[np.arange(n), ws.y] += skill
    proba /= proba.sum(axis=1, keepdims=True)
    val = window_set(20, seed + 1)
    return Predictions(proba=proba.astype(np.float32), y=ws.y, event_id=ws.event_id, t0=ws.t0,
                       proba_val=rng.dirichlet(np.ones(3), 20).astype(np.float32), y_val=val.y,
                       event_id_val=val.event_id), ws


@pytest.fixture
def study_tree(tmp_path, cfg):
    """models/ with the study's and the pipeline's predictions, 07's test windows, a catalogue."""
    models, data = tmp_path / "models", tmp_path / "data" / "processed"
    small = cfg.study.model_copy(update={"datasets": ["01", "03"], "baselines": []})
    cfg = cfg.model_copy(update={"study": small, "evaluate": cfg.evaluate.model_copy(
        update={"bootstrap_samples": 200}), "train": cfg.train.model_copy(
        update={"baselines": ["rf", "gbm"]})})
    for i, ds in enumerate(small.datasets):
        pred, _ = predictions(60, 10 + i, skill=0.5)
        (models / "study" / ds / "seqnetquake").mkdir(parents=True)
        pred.save(models / "study" / ds / "seqnetquake" / "predictions.npz")
        (models / "study" / ds / "timing.json").write_text(json.dumps(
            {"seqnetquake": {"train_s": 12.0 + i, "fit_s": 8.0}}))
    pred11, _ = predictions(40, 30, skill=0.3)
    (models / "base").mkdir(parents=True)
    pred11.save(models / "base" / "predictions.npz")
    pred07, test07 = predictions(80, 40, skill=0.4)
    save_npz(test07, data / "07" / "test.npz")
    for key, skill in (("direct", 0.2), ("transfer", 1.0)):
        p, _ = predictions(80, 40, skill=skill)
        (models / key).mkdir(parents=True)
        p.save(models / key / "predictions.npz")
    for name, val_mcc, skill in (("rf", 0.05, 0.0), ("gbm", 0.2, 0.3)):
        p, _ = predictions(80, 40, skill=skill)
        (models / "baselines" / name).mkdir(parents=True)
        p.save(models / "baselines" / name / "predictions.npz")
        (models / "baselines" / name / "metrics.json").write_text(json.dumps(
            {"val_mcc": val_mcc}))
    # mainshocks where (and a few days after) the seismic test windows passed, plus older ones
    seismic = np.flatnonzero(test07.y == 1)[:12]
    rows = [(f"us{i}", test07.t0[i] + np.timedelta64(2, "D"), test07.lat[i], test07.lon[i],
             5.5, "mainshock") for i in seismic]
    rows += [("old1", np.datetime64("2019-01-05"), 10.0, 10.0, 6.0, "mainshock"),
             ("art", test07.t0[3], 0.0, 0.0, 5.0, "artificial")]
    cat = pd.DataFrame(rows, columns=["event_id", "time", "latitude", "longitude", "magnitude",
                                      "kind"])
    cat["time"] = pd.to_datetime(cat["time"], utc=True)
    cat.to_parquet(tmp_path / "catalog_cses.parquet")
    ceilings = {"data_kind": "simulated", "datasets": {
        ds: {"ceiling_mcc": 0.4, "ceiling_f1_weighted": 0.7} for ds in ("01", "03", "07", "11")}}
    (tmp_path / "ceilings.json").write_text(json.dumps(ceilings))
    return tmp_path, cfg


def test_build_study_has_every_dataset_and_the_contract_keys(cfg):
    figures = {"01": {"seqnetquake": {"mcc": 0.3, "mcc_ci_low": 0.1, "mcc_ci_high": 0.5,
                                      "f1_weighted": 0.6, "f1_weighted_ci_low": math.nan,
                                      "f1_weighted_ci_high": 0.7, "accuracy": 0.6},
                      "rf": {"mcc": 0.1}}}
    out = study.build_study(cfg, figures, {"01": {"ceiling_mcc": 0.44}}, None)
    assert sorted(out["datasets"]) == [f"{i:02d}" for i in range(1, 12)]
    for entry in out["datasets"].values():
        assert set(CONTRACT) <= set(entry)
    assert out["datasets"]["01"]["mcc"] == 0.3 and out["datasets"]["01"]["ceiling_mcc"] == 0.44
    assert out["datasets"]["01"]["f1_weighted_ci_low"] is None  # NaN never reaches JSON
    assert out["datasets"]["02"]["mcc"] is None and out["datasets"]["02"]["paper_f1"] == 0.5963
    assert (out["datasets"]["07"]["paper_f1"], out["datasets"]["07"]["paper_mcc"]) == (0.6792,
                                                                                       0.427)
    assert out["baselines"] == {"01": {"rf": {"mcc": 0.1, **{k: None for k in (
        "mcc_ci_low", "mcc_ci_high", "f1_weighted", "f1_weighted_ci_low",
        "f1_weighted_ci_high", "accuracy")}}}}
    json.dumps(out, allow_nan=False)


def test_report_tables_figures_alarms_and_mlflow(study_tree, mlflow_uri):
    import mlflow

    root, cfg = study_tree
    reports = root / "reports"
    out = study.run_report(cfg, models_dir=root / "models", data_dir=root / "data/processed",
                           reports_dir=reports, ceilings=root / "ceilings.json",
                           catalog=root / "catalog_cses.parquet")
    saved = json.loads((reports / "study.json").read_text())
    assert saved == json.loads(json.dumps(out))
    ds = saved["datasets"]
    for key in ("01", "03", "07", "11"):
        assert set(CONTRACT) <= set(ds[key]) and ds[key]["mcc"] is not None
        assert ds[key]["mcc_ci_low"] <= ds[key]["mcc"] <= ds[key]["mcc_ci_high"]
        assert ds[key]["ceiling_mcc"] == 0.4
    assert ds["02"]["mcc"] is None  # not trained in this profile
    assert saved["transfer"]["mcc"] > ds["07"]["mcc"]  # TL was given more skill than DT
    assert saved["data_kind"] == cfg.data_kind
    # alarms: TL (forecasts the seismic windows) and the best baseline by validation MCC (gbm)
    alarms = saved["alarms"]
    assert set(alarms) == {"transfer", "best_baseline", "relative_intensity", "window_coverage"}
    assert alarms["best_baseline"]["model"] == "gbm"  # highest validation MCC, not test
    assert alarms["transfer"]["n_targets"] == 12
    assert alarms["transfer"]["ass"] > alarms["transfer"]["ass_random_high"]
    lo, hi = alarms["best_baseline"]["ass_random_low"], alarms["best_baseline"]["ass_random_high"]
    assert lo < 0.5 < hi
    md = (reports / "study.md").read_text()
    for title in ("Day vs night", "Window length T", "Spatial window", "Initial training",
                  "Transfer learning", "Six classifiers", "Molchan", "study_timing.md"):
        assert title in md
    assert "data_kind=simulated" in md and "0.6238" in md and "GBM" in md
    for name in ("study_T.png", "study_radius.png", "study_molchan.png"):
        assert (reports / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    details = json.loads((reports / "study_details.json").read_text())
    assert details["curves"]["transfer"]["tau"][0] == 0.0
    timing = (reports / "study_timing.md").read_text()
    assert "| 03 | seqnetquake | n/a | 13.0 | 8.0 |" in timing and "Total 0.4 min" in timing
    run = mlflow.search_runs(filter_string="tags.stage = 'study'", output_format="list")[0]
    assert run.data.tags["data_kind"] == cfg.data_kind
    assert math.isclose(run.data.metrics["alarms.transfer.ass"], alarms["transfer"]["ass"],
                        rel_tol=1e-5)
    assert "study.01.mcc" in run.data.metrics
    assert run.data.metrics["timing.01.seqnetquake.train_s"] == 12.0
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "study")} >= {
        "study/study.md", "study/study.json", "study/study_molchan.png"}


def test_report_refuses_predictions_of_other_windows(study_tree, mlflow_uri):
    from seqnetquake.errors import InputError

    root, cfg = study_tree
    pred, _ = predictions(80, 40, skill=1.0, start=5)  # shifted days: not 07's test windows
    pred.save(root / "models" / "transfer" / "predictions.npz")
    with pytest.raises(InputError, match="t0"):
        study.run_report(cfg, models_dir=root / "models", data_dir=root / "data/processed",
                         reports_dir=root / "reports", ceilings=root / "ceilings.json",
                         catalog=root / "catalog_cses.parquet")
    assert not (root / "reports" / "study.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["tuned_07", "tune_each"])
def test_study_train_trains_each_model_on_its_dataset(tmp_path, cfg, monkeypatch, mlflow_uri,
                                                      mode):
    import mlflow

    from seqnetquake import study_train

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    data, tuning = tmp_path / "data" / "processed", tmp_path / "models" / "tuning"
    write_dataset(data / "04", seed=3)
    for name, params in (("seqnetquake", SEQNETQUAKE_HP), ("rf", RF_HP)):
        (tuning / name).mkdir(parents=True)
        (tuning / name / "best_params.json").write_text(json.dumps(params))
    cfg = cfg.model_copy(update={
        "study": cfg.study.model_copy(update={"hyperparameters": mode, "baselines": ["rf"]}),
        "train": cfg.train.model_copy(update={"max_epochs": 2, "patience": 1}),
        "tuning": cfg.tuning.model_copy(update={"max_evals": 1, "max_evals_by_model": {},
                                                "max_epochs": 1}),
    })
    timing = study_train.train_dataset(cfg, "04", data_dir=data, models_dir=tmp_path / "models")
    out = tmp_path / "models" / "study" / "04"
    models = cfg.study.models()
    assert set(timing) == set(models)
    for m in models:
        pred = Predictions.load(out / m / "predictions.npz")
        assert len(pred.y) == 50 and pred.proba.shape == (50, 3)
        assert ("tune_s" in timing[m]) == (mode == "tune_each")
    assert json.loads((out / "timing.json").read_text()) == json.loads(json.dumps(timing))
    if mode == "tune_each":
        assert (out / "tuning" / "rf" / "best_params.json").exists()
    runs = mlflow.search_runs(filter_string="tags.stage = 'study_train'", output_format="list")
    assert {(r.data.tags["dataset"], r.data.tags["model"]) for r in runs} == {
        ("04", m) for m in models}
    assert {r.info.run_name for r in runs} == {f"study_train-04-{m}" for m in models}
    with pytest.raises(ValueError, match="unknown dataset"):
        study_train.train_dataset(cfg, "99", data_dir=data, models_dir=tmp_path / "models")


def test_benchmark_ceilings_of_every_dataset(tmp_path, cfg):
    """The ceilings the report reads: the oracle on each dataset's test windows."""
    from seqnetquake.benchmark import ceilings

    data = tmp_path / "processed"
    for ds, seed in (("03", 5), ("11", 6)):
        write_dataset(data / ds, seed=seed)
    raw = {sat: tmp_path / "raw" / sat for sat in ("cses", "demeter")}
    for sat, path in raw.items():
        ws = window_set(50, {"cses": 1005, "demeter": 1006}[sat], start=150)
        hit = np.flatnonzero(ws.y == 1)
        path.mkdir(parents=True)
        pd.DataFrame({"time": ws.t0[hit] + np.timedelta64(3, "s"),
                      "half_orbit_id": ws.half_orbit_id[hit],
                      "event_id": ws.event_id[hit], "delta_ne_rel": 0.3}).to_parquet(
            path / "truth.parquet")
    datasets = {k: v for k, v in cfg.datasets.items() if k in ("03", "11")}
    cfg = cfg.model_copy(update={
        "datasets": datasets,
        "tracks": cfg.tracks.model_copy(update={"raw_dirs": {k: str(v) for k, v in raw.items()}}),
        "benchmark": cfg.benchmark.model_copy(update={"bootstrap_samples": 100})})
    out = ceilings.run_stage(cfg, data, tmp_path / "ceilings.json")
    saved = json.loads((tmp_path / "ceilings.json").read_text())
    assert sorted(saved["datasets"]) == ["03", "11"] and saved["data_kind"] == cfg.data_kind
    for ds in ("03", "11"):
        c = out["datasets"][ds]
        assert c["class1_injected_share"] == 1.0  # every seismic test window injected
        assert c["ceiling_mcc"] == pytest.approx(1.0)  # the oracle is then exact
        assert c["n_windows"] == 50
    assert study.read_ceilings(tmp_path / "ceilings.json")["03"]["ceiling_mcc"] == \
        pytest.approx(1.0)
    assert study.read_ceilings(tmp_path / "none.json") == {}

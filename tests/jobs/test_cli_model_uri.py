"""Issue 19: a ``models:/`` URI with no registry ended in a 61-line traceback and left
``./mlruns.db`` behind. Now: one line on stderr, exit 6, nothing written."""

from __future__ import annotations

import mlflow
import pytest
from typer.testing import CliRunner

import jobs.cli.model as model_cli
from features.config import load_config
from features.errors import ModelUnreadable
from jobs.cli import app
from risk.score import load_model

runner = CliRunner()


@pytest.fixture
def no_county(monkeypatch):
    """``baoxue score`` without loading a county: the model is what fails."""
    monkeypatch.setattr(model_cli, "load_county", lambda data, config: (load_config(None), None))


@pytest.fixture(autouse=True)
def _restore_mlflow_uris():
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def test_no_registry_is_one_line_exit_6_and_nothing_written(tmp_path, monkeypatch, no_county):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    res = runner.invoke(
        app,
        [
            "score",
            "county",
            "--as-of",
            "2024-10-01",
            "--out",
            "s.parquet",
            "--model",
            "models:/baoxue@champion",
        ],
    )
    assert res.exit_code == 6, res.output
    assert res.stderr.startswith(
        "error: model models:/baoxue@champion: no MLflow store at sqlite:///mlruns.db"
    )
    assert res.stderr.strip().count("\n") == 0 and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_a_store_without_the_model_is_one_line_exit_6(tmp_path, monkeypatch, no_county):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    mlflow.MlflowClient(tracking_uri=store, registry_uri=store).search_registered_models()  # an empty store
    (tmp_path / "baoxue.toml").write_text(f'[train]\ntracking_uri = "{store}"\n', encoding="utf-8")
    res = runner.invoke(
        app,
        ["score", "county", "--as-of", "2024-10-01", "--out", str(tmp_path / "s.parquet"),
         "--model", "models:/baoxue@champion", "--config", str(tmp_path / "baoxue.toml")],
    )  # fmt: skip
    assert res.exit_code == 6, res.output
    assert res.stderr.startswith("error: model models:/baoxue@champion")
    assert "baoxue" in res.stderr and res.stderr.strip().count("\n") == 0
    assert not (tmp_path / "s.parquet").exists()


def test_load_model_raises_the_model_error(tmp_path):
    with pytest.raises(ModelUnreadable, match="does not exist"):
        load_model("models:/baoxue/3", tracking_uri=f"sqlite:///{tmp_path / 'none.db'}")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_model_file_is_said_before_the_county_is_loaded(tmp_path, monkeypatch):
    """Issue 19: a missing model file was reported only after loading (and building features)."""
    loaded = []
    monkeypatch.setattr(model_cli, "load_county", lambda data, config: loaded.append(data))
    res = runner.invoke(app, ["score", str(tmp_path / "county"), "--as-of", "2024-10-01",
                              "--out", str(tmp_path / "s.parquet"), "--model", str(tmp_path / "gone.joblib")])  # fmt: skip
    assert res.exit_code == 6, res.output
    assert "gone.joblib" in res.stderr and res.stderr.strip().count("\n") == 0
    assert loaded == []  # the county was never read

"""Champion and challenger: a challenger that ranks worse is not promoted; the first model
becomes champion; ``baoxue promote`` overrides the rule and records the reason."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from training.pipeline import latest_window, train_bundle
from training.promotion import compare_on_window


def _shuffled(data, seed: int = 3):
    """Labels permuted within each as-of date: same base rate, no signal."""
    rng = np.random.default_rng(seed)
    out = data.copy()
    for _, idx in out.groupby("as_of", observed=True).indices.items():
        perm = rng.permutation(idx)
        out.iloc[idx, out.columns.get_loc("label")] = out["label"].to_numpy()[perm]
        out.iloc[idx, out.columns.get_loc("event_date")] = out["event_date"].to_numpy()[perm]
    return out


@pytest.fixture(scope="module")
def models(synthetic_data, small_config):
    good = train_bundle(synthetic_data, small_config)
    noise = train_bundle(_shuffled(synthetic_data), small_config)
    return good, noise, latest_window(synthetic_data, small_config)


def test_latest_window_is_the_deployed_models_validation_months(synthetic_data, small_config, models):
    window = models[2]
    months = sorted(window["as_of"].unique())
    assert len(months) == small_config.valid_months
    assert months[-1] == synthetic_data["as_of"].max()


def test_a_challenger_trained_on_shuffled_labels_is_not_promoted(models):
    good, noise, window = models
    d = compare_on_window(noise, good, window, capacity=5, tolerance=0.02)
    assert not d.promote
    assert "worse than the champion" in d.reason or "ECE" in d.reason
    assert d.challenger["precision_at_cap5"] < d.champion["precision_at_cap5"] - 0.02
    # the same model against itself is not worse: promoted
    assert compare_on_window(good, good, window, capacity=5, tolerance=0.02).promote
    # and the first model becomes champion whatever its figures
    assert compare_on_window(noise, None, window, capacity=5).promote


@pytest.mark.slow
def test_register_challenger_then_override(models, small_config, synthetic_data, tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app
    from training.tracking import load_champion, register_challenger

    good, noise, window = models
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cfg = replace(small_config, tracking_uri=uri)
    first = register_challenger(good, cfg, window, capacity=5, tracking_uri=uri)
    assert (first.alias, first.previous_champion) == ("champion", "")
    assert "no champion yet" in first.decision.reason
    second = register_challenger(noise, cfg, window, capacity=5, tracking_uri=uri)
    assert second.alias == "challenger" and second.previous_champion == first.version
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = cfg.registered_model
    assert str(client.get_model_version_by_alias(name, "champion").version) == first.version
    assert str(client.get_model_version_by_alias(name, "challenger").version) == second.version
    v2 = client.get_model_version(name, second.version)
    assert v2.tags["challenger_reason"] == second.decision.reason
    assert "stays challenger" in client.get_run(second.run_id).data.tags["promotion_decision"]
    rows = synthetic_data.iloc[:20]
    assert load_champion(cfg, tracking_uri=uri).predict_proba(rows).equals(good.predict_proba(rows))

    # the override: `baoxue promote VERSION --reason TEXT`
    toml = tmp_path / "baoxue.toml"
    toml.write_text(f'[train]\ntracking_uri = "{uri}"\n', encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["promote", second.version, "--reason", "county asked for it", "-c", str(toml)])
    assert res.exit_code == 0, res.output
    assert f"version {second.version} -> champion (replaced {first.version})" in res.output
    v2 = client.get_model_version(name, second.version)
    assert v2.tags["promotion_reason"] == "county asked for it" and v2.tags["promoted_by"] == "override"
    assert v2.tags["replaced_champion"] == first.version
    assert str(client.get_model_version_by_alias(name, "champion").version) == second.version
    assert "challenger" not in client.get_registered_model(name).aliases  # a champion is no challenger
    res = runner.invoke(app, ["promote", "99", "--reason", "x", "-c", str(toml)])
    assert res.exit_code == 2 and "has no version '99'" in res.output

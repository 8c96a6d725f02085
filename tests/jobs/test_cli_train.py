"""`baoxue train --negative-sample`: a bad share is a config error (exit 2) naming the key."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def test_train_refuses_a_bad_negative_sample(tmp_path):
    sim = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--students", "60", "--years", "1"])
    assert sim.exit_code == 0, sim.output
    result = runner.invoke(app, ["train", str(tmp_path), "--negative-sample", "0", "--no-track"])
    assert result.exit_code == 2, result.output
    assert "[train] negative_sample must be in (0, 1], got 0.0" in result.output


@pytest.mark.slow
def test_train_registers_a_challenger_promotes_by_the_rule_and_writes_the_card(tmp_path):
    from mlflow.tracking import MlflowClient

    sim = runner.invoke(app, ["simulate", "--out", str(tmp_path / "county"), "--students", "300", "--years", "2",
                              "--preset", "reap_2010"])  # fmt: skip
    assert sim.exit_code == 0, sim.output
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    toml = tmp_path / "baoxue.toml"
    toml.write_text(
        f'[train]\ntracking_uri = "{uri}"\nn_estimators = 20\nnum_leaves = 7\nmax_depth = 3\n',
        encoding="utf-8",
    )
    args = ["train", str(tmp_path / "county"), "-c", str(toml), "--no-evaluate-first"]
    first = runner.invoke(app, [*args, "-o", str(tmp_path / "m1" / "bundle.joblib")])
    assert first.exit_code == 0, first.output
    assert "version 1 -> champion (no champion yet" in first.output
    card = (tmp_path / "m1" / "model_card.md").read_text(encoding="utf-8")
    assert "模型说明" in card and "版本 version 1" in card and (tmp_path / "m1" / "model_card.html").is_file()
    # the same recipe on the same data is not worse: promoted, replacing version 1
    second = runner.invoke(app, [*args, "-o", str(tmp_path / "m2" / "bundle.joblib")])
    assert second.exit_code == 0, second.output
    assert "version 2 -> champion (challenger precision at capacity" in second.output
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    v2 = client.get_model_version("baoxue", "2")
    assert v2.tags["replaced_champion"] == "1" and v2.tags["promoted_by"] == "rule"
    files = {f.path for f in client.list_artifacts(v2.run_id, "model_card")}
    assert files == {"model_card/model_card.md", "model_card/model_card.html"}

"""Issue 19: `baoxue evaluate-interventions` reads the supports from the ledger (where the
nightly job records them) when the data has none, or whenever --db is given."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from features.contract import Tables
from jobs.cli.evidence import _with_ledger_interventions
from jobs.storage import Intervention


def _tables(interventions: pd.DataFrame | None = None) -> Tables:
    empty = pd.DataFrame()
    return Tables(empty, empty, empty, empty, empty, interventions=interventions)


def _record(engine, n: int) -> None:
    rows = [
        {"intervention_id": f"iv{i}", "student_id": f"S{i}", "type": "home_visit", "start_date": dt.date(2025, 3, 17),
         "assignment_mechanism": "model_rank"}
        for i in range(n)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Intervention.__table__), rows)


def test_the_ledger_gives_the_supports_when_the_data_has_none(engine):
    _record(engine, 3)
    tables, note = _with_ledger_interventions(_tables(), engine, prefer_ledger=False)
    assert len(tables.interventions) == 3 and set(tables.interventions["type"]) == {"home_visit"}
    assert note == "supports: the ledger's interventions table (3 rows)"


def test_db_prefers_the_ledger_and_the_data_counts_without_it(engine):
    _record(engine, 2)
    data_iv = pd.DataFrame({"intervention_id": ["x"], "student_id": ["S9"], "type": ["aid"],
                            "start_date": [pd.Timestamp("2025-03-01")]})  # fmt: skip
    tables, note = _with_ledger_interventions(_tables(data_iv), engine, prefer_ledger=True)
    assert list(tables.interventions["intervention_id"]) == ["iv0", "iv1"] and "ledger" in note
    tables, note = _with_ledger_interventions(_tables(data_iv), engine, prefer_ledger=False)
    assert list(tables.interventions["intervention_id"]) == ["x"] and "the data's" in note


def test_no_supports_anywhere_is_one_clear_error(engine):
    with pytest.raises(ValueError, match="neither the data nor the ledger has any supports"):
        _with_ledger_interventions(_tables(), engine, prefer_ledger=True)


def test_no_estimate_at_all_is_a_sentence_and_the_notes(tmp_path, monkeypatch):
    """A county where no design can run prints why, not a KeyError on the empty table."""
    import types

    from typer.testing import CliRunner

    import jobs.cli.evidence as cli_evidence
    import risk.evidence.evaluate as evaluate
    from jobs.cli import app
    from risk.evidence import EstimationError

    data_iv = pd.DataFrame({"intervention_id": ["x"], "student_id": ["S9"], "type": ["aid"],
                            "start_date": [pd.Timestamp("2025-03-01")]})  # fmt: skip
    loaded = types.SimpleNamespace(tables=_tables(data_iv))
    monkeypatch.setattr(cli_evidence, "load_county", lambda source, config: (None, loaded))
    monkeypatch.setattr(evaluate, "read_snapshots", lambda path: pd.DataFrame({"as_of": ["2025-03-17"]}))
    monkeypatch.setattr(evaluate, "evaluation_decisions", lambda *a, **k: (pd.DataFrame(), []))

    def no_panel(*args, **kwargs):
        raise EstimationError("interventions: no home_visit in the date range; no event study")

    monkeypatch.setattr(evaluate, "event_panel", no_panel)
    monkeypatch.setattr(
        evaluate,
        "evaluate_interventions",
        lambda *a, **k: evaluate.InterventionEvaluation(
            table=pd.DataFrame(), results=[], decisions=pd.DataFrame(), by_group=pd.DataFrame(),
            notes=["borderline, outcome_dropout: no randomised students"],
        ),
    )  # fmt: skip
    res = CliRunner().invoke(
        app, ["evaluate-interventions", "--data", str(tmp_path), "--snapshots", str(tmp_path / "s.parquet"),
              "--out", str(tmp_path / "ev.html")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "no design could estimate an effect on this data; the notes say why" in res.output
    assert "- borderline, outcome_dropout: no randomised students" in res.output
    assert "- event study: interventions: no home_visit" in res.output
    assert (tmp_path / "ev.html").is_file()

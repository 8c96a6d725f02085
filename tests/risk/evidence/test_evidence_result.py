"""The result object: tables and JSON."""

from __future__ import annotations

import json
import math

import pytest

from features.errors import DataContractError
from risk.evidence import EffectEstimate, holm, results_frame
from risk.evidence._result import require_columns


def _result(**kw) -> EffectEstimate:
    base = {
        "estimator": "borderline",
        "intervention_type": "case",
        "outcome": "outcome_dropout",
        "estimand": "ITT",
        "estimate": -0.05,
        "ci_low": -0.1,
        "ci_high": 0.0,
        "ci_level": 0.95,
        "ci_method": "newcombe",
        "se": float("nan"),
        "p_value": 0.04,
        "n": 10,
        "n_treated": 5,
        "n_control": 5,
        "sample": "band",
        "assumptions": ("a", "b"),
    }
    return EffectEstimate(**{**base, **kw})


def test_to_dict_is_json_with_frames_and_nan_as_null():
    import pandas as pd

    r = _result(diagnostics={"table": pd.DataFrame({"x": [1, 2]}), "flag": True})
    out = json.loads(json.dumps(r.to_dict()))
    assert out["se"] is None
    assert out["diagnostics"]["table"] == [{"x": 1}, {"x": 2}]
    assert out["assumptions"] == ["a", "b"]


def test_results_frame_stacks_one_row_each():
    t = results_frame([_result(), _result(estimator="rd")])
    assert t["estimator"].tolist() == ["borderline", "rd"]
    assert t.loc[0, "assumptions"] == "a | b"
    assert results_frame([]).empty


def test_result_is_frozen_and_covers():
    r = _result()
    with pytest.raises(AttributeError):
        r.estimate = 0.0  # type: ignore[misc]
    assert r.covers(-0.05) and not r.covers(0.01)


def test_holm_matches_hand_computation():
    # sorted p: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> monotone max 0.06
    adj = holm([0.04, 0.01, 0.03])
    assert [round(v, 2) for v in adj] == [0.06, 0.03, 0.06]
    assert math.isnan(holm([float("nan")])[0])


def test_missing_columns_are_named():
    import pandas as pd

    with pytest.raises(DataContractError, match=r"decisions: missing column\(s\) \['randomised'\]"):
        require_columns(pd.DataFrame({"a": [1]}), ["a", "randomised"])

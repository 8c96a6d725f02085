"""baoxue's recipe on a flat table: each split kind, each bad input, the JSON result, the readers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import training
from features.errors import DataContractError
from training import table
from training.table import HEADLINE_KEYS, evaluate_table, read_table


@pytest.fixture(scope="module")
def students() -> pd.DataFrame:
    """300 students: risk rises with absence, failed subjects and one village; 12 schools, 3 years."""
    rng = np.random.default_rng(18)
    n = 300
    absence = rng.beta(1.5, 10, n)
    failed = rng.poisson(0.6, n)
    village = rng.choice(["东村", "西村", "南村"], n)
    logit = -2.2 + 9 * absence + 0.7 * failed + 0.8 * (village == "东村")
    left = rng.random(n) < 1 / (1 + np.exp(-logit))
    outcome = np.where(left, "dropout", rng.choice(["graduated", "enrolled"], n))
    return pd.DataFrame(
        {
            "sid": [f"s{i:04d}" for i in range(n)],
            "absence": absence.round(3),
            "failed": failed,
            "village": village,
            "noise": rng.normal(size=n).round(3),
            "school": rng.choice([f"school{k:02d}" for k in range(12)], n),
            "year": rng.choice([2021, 2022, 2023], n),
            "outcome": outcome,
        }
    )


class _Spy:
    """Records, per fold, the rows the model is fitted on and the rows it scores."""

    def __init__(self, monkeypatch) -> None:
        self.train: list[set[int]] = []
        self.test: list[set[int]] = []
        fit, prepare = table.fit_model, table.prepare_features

        def fit_model(panel, design, config, **kw):
            if kw.get("estimator") is None:
                self.train.append(set(panel.index))
            return fit(panel, design, config, **kw)

        def prepare_features(frame, columns):
            self.test.append(set(frame.index))
            return prepare(frame, columns)

        monkeypatch.setattr(table, "fit_model", fit_model)
        monkeypatch.setattr(table, "prepare_features", prepare_features)


def test_stratified_folds_find_the_signal(students, small_config):
    r = training.evaluate_table(
        students, label="outcome", positive="dropout", id="sid", folds=3, config=small_config
    )
    assert r["split"]["kind"] == "stratified" and r["split"]["folds"] == 3
    assert r["n_rows"] == len(students)  # pooled over the out-of-fold predictions
    assert r["positive_rate"] == pytest.approx((students["outcome"] == "dropout").mean())
    assert r["auc"] > 0.6 and r["baselines"]["logistic"]["auc"] > 0.6  # the planted signal (0.5: none)
    assert r["categorical"] == ["village", "school"] and r["features"] == 6  # sid is no feature


def test_grouped_folds_keep_each_school_on_one_side(students, small_config, monkeypatch):
    spy = _Spy(monkeypatch)
    r = evaluate_table(
        students, label="outcome", positive="dropout", group="school", folds=3, config=small_config
    )
    assert r["split"] == {"kind": "grouped", "folds": 3, "column": "school", "inner": "grouped quarter"}
    assert len(spy.train) == len(spy.test) == 3
    school = students["school"].to_numpy()
    for train, test in zip(spy.train, spy.test):
        assert not train & test
        assert not set(school[list(train)]) & set(school[list(test)])
    assert set().union(*spy.test) == set(range(len(students)))
    assert r["features"] == 6  # the group is no feature either


def test_time_split_tests_on_the_latest_value(students, small_config, monkeypatch):
    spy = _Spy(monkeypatch)
    r = evaluate_table(
        students,
        label="outcome",
        positive="dropout",
        id="sid",
        time="year",
        drop=["noise"],
        config=small_config,
    )
    latest = students["year"] == 2023
    assert r["split"]["kind"] == "time" and r["split"]["test_value"] == 2023
    assert r["split"]["inner"] == "latest training value"
    assert r["n_rows"] == latest.sum() and r["split"]["train_rows"] == (~latest).sum()
    [train], [test] = spy.train, spy.test
    assert test == set(np.flatnonzero(latest)) and train == set(np.flatnonzero(~latest))
    assert r["features"] == 4  # sid, year and the dropped noise are no features


def test_time_split_orders_date_text(small_config):
    rng = np.random.default_rng(1)
    n = 240
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "term": rng.choice(["2023-09-01", "2024-02-15", "2023-02-20"], n),
            "y": (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int),
        }
    )
    r = evaluate_table(frame, label="y", positive="1", time="term", config=small_config)  # "1" matches 1
    assert r["split"]["test_value"] == "2024-02-15" and r["split"]["inner"] == "latest training value"


def test_result_is_json_with_every_key(students, small_config):
    r = evaluate_table(students, label="outcome", positive="dropout", folds=3, config=small_config)
    text = json.dumps(r, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == r
    for figures in (r, r["baselines"]["logistic"]):
        assert set(HEADLINE_KEYS) <= set(figures)
        for key in HEADLINE_KEYS:
            assert type(figures[key]) is (int if key == "n_rows" else float), key
    for key in (
        "auc",
        "pr_auc",
        "precision_at_5pct",
        "precision_at_10pct",
        "recall_at_10pct",
        "brier",
        "ece",
    ):
        assert 0 <= r[key] <= 1
    assert r["auc"] == r["roc_auc"]


@pytest.mark.parametrize(
    ("change", "kwargs", "expected"),
    [
        (None, {"label": "Outcome"}, r"label column 'Outcome' is not in the table"),
        (
            None,
            {"positive": "Dropout"},
            r"'Dropout' never occurs in label column 'outcome'.*'dropout' \(\d+\)",
        ),
        ("one_class", {}, r"label column 'outcome' holds one class only"),
        ("duplicate_id", {"id": "sid"}, r"id column 'sid' has duplicates.*'s0000' in rows 1, 3\b"),
        (None, {"id": "student"}, r"id column 'student' is not in the table"),
        (None, {"time": "date"}, r"time column 'date' is not in the table"),
        (None, {"group": "class"}, r"group column 'class' is not in the table"),
        (None, {"drop": ["noise", "score"]}, r"drop column 'score' is not in the table"),
        ("empty_group", {"group": "school"}, r"group column 'school' is empty in 1 rows \(rows 5;"),
        ("one_year", {"time": "year"}, r"time column 'year' holds one value only"),
    ],
)
def test_bad_input_names_the_column(students, change, kwargs, expected):
    frame = students.copy()
    if change == "one_class":
        frame["outcome"] = "dropout"
    elif change == "duplicate_id":
        frame.loc[2, "sid"] = "s0000"
    elif change == "empty_group":
        frame.loc[4, "school"] = None
    elif change == "one_year":
        frame["year"] = 2023
    args = {"label": "outcome", "positive": "dropout"} | kwargs
    with pytest.raises(DataContractError, match=expected):
        evaluate_table(frame, **args)


def test_too_few_positives_for_the_folds(students):
    frame = students.assign(outcome=np.where(np.arange(len(students)) < 2, "dropout", "enrolled"))
    with pytest.raises(
        DataContractError, match=r"label column 'outcome' has 2 positive rows, fewer than folds=5"
    ):
        evaluate_table(frame, label="outcome", positive="dropout")


def test_rows_without_label_are_left_out(students, small_config):
    frame = students.astype({"outcome": "object"})
    frame.loc[:9, "outcome"] = None
    r = evaluate_table(frame, label="outcome", positive="dropout", folds=3, config=small_config)
    assert r["rows_without_label"] == 10 and r["n_rows"] == len(students) - 10


# --- reading ---------------------------------------------------------------------------------------


def _small() -> pd.DataFrame:
    return pd.DataFrame({"学号": ["a1", "a2", "a3"], "村": ["东村", "西村", "东村"], "缺勤": [0.5, 1.0, 2.5]})


def test_read_csv_with_semicolons_and_decimal_commas_in_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id;town;absence\n1;a,b;0.5\n2;c;1.5\n", encoding="utf-8")
    frame = read_table(path)
    assert frame.columns.tolist() == ["id", "town", "absence"]
    assert frame["town"].tolist() == ["a,b", "c"] and frame["absence"].tolist() == [0.5, 1.5]
    assert read_table(path, sep=";").equals(frame)


def test_read_csv_with_bom(tmp_path):
    path = tmp_path / "t.csv"
    _small().to_csv(path, index=False, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    frame = read_table(path)
    assert frame.columns.tolist() == ["学号", "村", "缺勤"] and frame["缺勤"].dtype == "float64"


def test_read_gbk_csv_and_evaluate_it(tmp_path, students, small_config):
    path = tmp_path / "学生.csv"
    chinese = students.rename(columns={"village": "村", "absence": "缺勤率", "outcome": "结果"})
    chinese["结果"] = chinese["结果"].map({"dropout": "辍学", "graduated": "毕业", "enrolled": "在读"})
    chinese.to_csv(path, index=False, encoding="gbk", sep="\t")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    frame = read_table(path)
    assert frame.columns.tolist() == chinese.columns.tolist()
    assert frame["村"].tolist() == chinese["村"].tolist()
    r = evaluate_table(frame, label="结果", positive="辍学", id="sid", folds=3, config=small_config)
    assert r["categorical"] == ["村", "school"] and r["auc"] > 0.6


def test_read_parquet_and_xlsx(tmp_path):
    small = _small()
    small.to_parquet(tmp_path / "t.parquet")
    small.to_excel(tmp_path / "t.xlsx", index=False, sheet_name="学生")
    for name in ("t.parquet", "t.xlsx"):
        frame = read_table(tmp_path / name)
        assert frame.columns.tolist() == small.columns.tolist(), name
        assert frame["村"].tolist() == small["村"].tolist() and frame["缺勤"].tolist() == [0.5, 1.0, 2.5]
    assert read_table(tmp_path / "t.xlsx", sheet="学生").shape == (3, 3)


def test_read_missing_file_names_it(tmp_path):
    with pytest.raises(DataContractError, match="nope.csv does not exist"):
        read_table(tmp_path / "nope.csv")

"""The staff import obeys the case state machine and loses nothing staff wrote (issue 20).

Hand-made night (tests/jobs/test_ledger.py's snapshot): a is a suspected dropout (opened
2025-03-10, step 0), b, c, d, e are prevention cases. Each test runs on SQLite and, with
BAOXUE_TEST_PG_URL, on PostgreSQL (where one over-long value used to abort the whole sheet).
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from jobs.ledger import IMPORT_COLUMNS, UPDATE_FIELD_LENGTHS, import_updates
from jobs.storage import dump, read_case_events, read_cases
from risk.cases import NOTE_MAX_CHARS
from tests.jobs.test_ledger import DAY, _night, _snap

AS_OF = dt.date(2025, 3, 12)


def _ids(engine) -> pd.Series:
    _night(engine, _snap(), DAY)
    return read_cases(engine).set_index("student_id")["case_id"]


def _import(engine, tmp_path, rows, name="updates.csv", **kw):
    path = tmp_path / name
    frame = pd.DataFrame(rows)
    if name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return import_updates(engine, path, as_of=AS_OF, **kw), path


def _reasons(res) -> dict[int, str]:
    return res.rejects.groupby("file_row")["reason"].agg(" | ".join).to_dict()


def test_the_import_refuses_the_transitions_the_rules_forbid(engine, tmp_path):
    ids = _ids(engine)
    a, b, c = ids["a"], ids["b"], ids["c"]
    rows = [
        {"case_id": a, "ts": "2025-03-10", "event_type": "close", "closure_reason": "returned"},  # 2: still out
        {"case_id": a, "ts": "2025-03-10", "event_type": "close", "closure_reason": "other"},  # 3: not lawful
        {"case_id": a, "ts": "2025-03-10", "event_type": "close", "closure_reason": "placed"},  # 4: no placement
        {"case_id": a, "ts": "2025-03-10", "event_type": "step", "four_step_stage": "4"},  # 5: 0 -> 4
        {"case_id": a, "ts": "2025-03-10", "event_type": "step", "four_step_stage": "1"},  # 6: ok, 0 -> 1
        {"case_id": a, "ts": "2025-03-11", "event_type": "step", "four_step_stage": "3"},  # 7: 1 -> 3
        {"case_id": a, "ts": "2025-03-11", "event_type": "step", "four_step_stage": "2"},  # 8: ok, 1 -> 2
        {"case_id": b, "ts": "2025-03-11", "event_type": "step", "four_step_stage": "1"},  # 9: prevention
        {"case_id": b, "ts": "2025-03-11", "event_type": "deadline_notice"},  # 10: prevention
        {"case_id": c, "ts": "1900-01-01", "event_type": "phone"},  # 11: before the case opened
        {"case_id": c, "ts": "2025-03-13", "event_type": "phone"},  # 12: after the import date
        {"case_id": a, "ts": "2025-03-12", "event_type": "home_visit", "outcome": "returned"},  # 13: ok, back
        {"case_id": a, "ts": "2025-03-12", "event_type": "close", "closure_reason": "returned"},  # 14: ok now
    ]  # fmt: skip
    res, _ = _import(engine, tmp_path, rows)
    assert (res.rows, res.imported) == (13, 4)
    why = _reasons(res)
    assert sorted(why) == [2, 3, 4, 5, 7, 9, 10, 11, 12]
    assert "needs the child back at school" in why[2] and "劝返一个销号一个" in why[2]
    assert "closed only when the child is back" in why[3] and "not other" in why[3]
    assert "needs a placement" in why[4]
    assert "skips a step: the case is at step 0, the next step is 1" in why[5]
    assert "skips a step: the case is at step 1, the next step is 2" in why[7]
    assert "for suspected dropouts, not a prevention case" in why[9]
    assert "for suspected dropouts, not a prevention case" in why[10]
    assert "date before the case opened (2025-03-10)" in why[11]
    assert "after the import date 2025-03-12" in why[12]
    cases = read_cases(engine).set_index("student_id")
    assert cases.loc["a", ["four_step_stage", "status", "closure_reason"]].tolist() == [
        2,
        "closed",
        "returned",
    ]
    assert cases.loc["b", ["four_step_stage", "status"]].tolist() == [0, "open"]
    ev = read_case_events(engine)
    assert sorted(ev.loc[ev["source"] == "import", "event_type"]) == ["close", "home_visit", "step", "step"]


def test_a_lawful_exit_closes_a_suspected_dropout_that_is_still_out(engine, tmp_path):
    ids = _ids(engine)
    rows = [{"case_id": ids["a"], "ts": "2025-03-11", "event_type": "close", "closure_reason": "transferred"}]
    res, _ = _import(engine, tmp_path, rows)
    assert (res.imported, len(res.rejects)) == (1, 0)
    assert read_cases(engine).set_index("student_id").loc["a", "closure_reason"] == "transferred"


def test_one_too_long_value_rejects_its_row_and_the_fifteen_good_rows_are_saved(engine, tmp_path):
    ids = _ids(engine)
    days, kinds = ["2025-03-10", "2025-03-11", "2025-03-12"], ["phone", "talk"]
    good = [{"case_id": ids[s], "ts": d, "event_type": k} for s in "bcde" for d in days for k in kinds][:15]
    long_owner = "k" * (UPDATE_FIELD_LENGTHS["owner_staff_id"] + 16)  # case_events.owner_staff_id is 64
    rows = [*good[:7], {"case_id": ids["c"], "ts": "2025-03-12", "event_type": "phone",
                        "owner_staff_id": long_owner}, *good[7:]]  # fmt: skip
    res, _ = _import(engine, tmp_path, rows)
    assert (res.rows, res.imported) == (16, 15)
    assert res.rejects[["file_row", "column"]].values.tolist() == [[9, "owner_staff_id"]]
    assert res.rejects["reason"].iloc[0] == "80 characters, over the 64 this column holds"
    assert (read_case_events(engine)["source"] == "import").sum() == 15


def test_a_note_over_the_limit_is_refused_not_cut(engine, tmp_path):
    ids = _ids(engine)
    rows = [
        {"case_id": ids["c"], "ts": "2025-03-11", "event_type": "phone", "note": "家长说下周返校。" * 300},
        {"case_id": ids["c"], "ts": "2025-03-11", "event_type": "talk", "note": "谈心半小时"},
    ]
    res, _ = _import(engine, tmp_path, rows)
    assert res.imported == 1
    assert res.rejects[["file_row", "column"]].values.tolist() == [[2, "note"]]
    assert f"over the {NOTE_MAX_CHARS}" in res.rejects["reason"].iloc[0]
    ev = read_case_events(engine)
    assert ev.loc[ev["source"] == "import", "note"].tolist() == ["谈心半小时"]


def test_notes_are_kept_and_repeated_calls_are_distinct_events_and_a_reimport_adds_nothing(engine, tmp_path):
    ids = _ids(engine)
    c = ids["c"]
    rows = [
        {"case_id": c, "ts": "2025-03-11", "event_type": "phone", "outcome": "no_contact", "note": "上午打电话，无人接听"},
        {"case_id": c, "ts": "2025-03-11", "event_type": "phone", "outcome": "no_contact", "note": "下午再打，仍无人接听"},
        {"case_id": c, "ts": "2025-03-12 09:30", "event_type": "phone", "outcome": "contacted"},
        {"case_id": c, "ts": "2025-03-12 16:00", "event_type": "phone", "outcome": "contacted"},
        {"case_id": ids["d"], "ts": "2025-03-12", "event_type": "talk"},  # two identical rows: two talks
        {"case_id": ids["d"], "ts": "2025-03-12", "event_type": "talk"},
    ]  # fmt: skip
    res, path = _import(engine, tmp_path, rows)
    assert (res.imported, res.already, len(res.rejects)) == (6, 0, 0)
    ev = read_case_events(engine)
    ev = ev[ev["source"] == "import"].sort_values(["case_id", "ts", "event_id"])
    calls = ev[ev["case_id"] == c]
    assert sorted(calls["note"].dropna()) == ["上午打电话，无人接听", "下午再打，仍无人接听"]
    times = sorted(json.loads(d)["time"] for d in calls["detail"].dropna())
    assert times == ["09:30", "16:00"]
    assert (ev["case_id"] == ids["d"]).sum() == 2
    # the same sheet again: every row recognised, nothing written
    before = dump(engine)["case_events"]
    again = import_updates(engine, path, as_of=AS_OF)
    assert (again.imported, again.already, len(again.rejects)) == (0, 6, 0)
    pd.testing.assert_frame_equal(before, dump(engine)["case_events"])


def test_unknown_columns_are_reported_and_the_rows_still_imported(engine, tmp_path):
    ids = _ids(engine)
    rows = [{"case_id": ids["c"], "ts": "2025-03-11", "event_type": "phone", "跟进情况": "家长同意周一送来"}]
    res, _ = _import(engine, tmp_path, rows)
    assert res.imported == 1 and res.unknown_columns == ["跟进情况"]
    rej = pd.read_csv(res.rejects_file)
    assert rej[["file_row", "column"]].values.tolist() == [[1, "跟进情况"]]
    assert rej["reason"].iloc[0].startswith("unknown column: its values were not imported")
    assert "note (备注)" in rej["reason"].iloc[0]


def test_an_xlsx_sheet_with_chinese_headers_keeps_the_note(engine, tmp_path):
    ids = _ids(engine)
    rows = [{"case_id": ids["a"], "ts": "2025-03-11", "event_type": "home_visit", "outcome": "refused",
             "note": "家长不在，爷爷说孩子在外打工"}]  # fmt: skip
    zh = [{IMPORT_COLUMNS[k]: v for k, v in r.items()} for r in rows]
    res, _ = _import(engine, tmp_path, zh, name="updates.xlsx")
    assert (res.imported, len(res.rejects), res.unknown_columns) == (1, 0, [])
    ev = read_case_events(engine, case_id=ids["a"])
    assert ev.loc[ev["source"] == "import", "note"].tolist() == ["家长不在，爷爷说孩子在外打工"]


def test_the_sheet_template_has_the_note_column_and_a_filled_one_imports_cleanly(engine, tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app

    ids = _ids(engine)
    path = tmp_path / "template.xlsx"
    out = CliRunner().invoke(app, ["cases", "template", str(path)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    sheet = pd.read_excel(path)
    assert list(sheet.columns) == list(IMPORT_COLUMNS.values()) and sheet.columns[-1] == "备注"
    sheet.loc[0] = [ids["c"], "2025-03-11", "talk", "counsellor", "agreed", None, None, None, None, None, None,
                    "愿意参加周三的学习小组"]  # fmt: skip
    sheet["补充"] = ["x"]  # an unknown column: the CLI warns and names it
    sheet.to_excel(path, index=False)
    url = engine.url.render_as_string(hide_password=False)
    out = CliRunner().invoke(app, ["cases", "import", str(path), "--db", url, "--as-of", str(AS_OF)],
                             env={"COLUMNS": "200"})  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "unknown column(s) not imported: 补充" in out.output
    assert "imported 1, imported before 0, rejected 0" in out.output
    ev = read_case_events(engine, case_id=ids["c"])
    assert ev.loc[ev["source"] == "import", "note"].tolist() == ["愿意参加周三的学习小组"]

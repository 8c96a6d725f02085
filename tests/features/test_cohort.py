"""The cohort on a date: who is enrolled and in school."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from _handmade import students, tables

from features.cohort import cohort, cohort_index


def _county():
    ev = [
        ("a", "2024-09-01", "enrol"),
        ("b", "2024-10-08", "dropout_mark"),  # b: out from 8 Oct, back 4 Nov
        ("b", "2024-11-04", "return_mark"),
        ("c", "2024-10-08", "suspected_mark"),  # c: suspected dropouts stay in the cohort
        ("d", "2024-10-08", "suspend"),  # d: suspended, resumes 1 Dec
        ("d", "2024-12-01", "resume"),
        ("e", "2024-10-08", "transfer_out"),
        ("f", "2024-10-08", "deceased"),  # f: final, even with a later event
        ("f", "2024-11-01", "enrol"),
        ("g", "2024-10-08", "dropout_mark"),  # g: mark and return on the same day: in
        ("g", "2024-10-08", "return_mark"),
    ]
    reg = pd.DataFrame(ev, columns=["student_id", "event_date", "event_type"])
    st = students(list("abcdefgh"))
    # h: left the students table on 1 Oct (valid_to), a: changed class on 1 Nov
    st.loc[st.student_id == "h", "valid_to"] = "2024-10-01"
    st = pd.concat([st, students(["a"], valid_from="2024-11-01", class_id="k2")], ignore_index=True)
    st.loc[(st.student_id == "a") & (st.valid_from == "2024-09-01"), "valid_to"] = "2024-11-01"
    return tables(list("abcdefgh"), students=st, registry_events=reg)


def test_cohort_follows_registry_events():
    t = _county()
    assert cohort_index(t, dt.date(2024, 9, 30)).tolist() == list("abcdefgh")
    assert cohort_index(t, dt.date(2024, 10, 1)).tolist() == list("abcdefg")  # h's row ended
    assert cohort_index(t, dt.date(2024, 10, 8)).tolist() == ["a", "c", "g"]
    assert cohort_index(t, dt.date(2024, 11, 4)).tolist() == ["a", "b", "c", "g"]
    assert cohort_index(t, dt.date(2024, 12, 1)).tolist() == ["a", "b", "c", "d", "g"]


def test_cohort_row_in_force_and_codes():
    t = _county()
    c = cohort(t, dt.date(2024, 11, 4))
    assert c.loc["a", "class_id"] == "k2"
    assert cohort(t, dt.date(2024, 10, 31)).loc["a", "class_id"] == "k1"
    assert (t.student_ids[c["code"].to_numpy()] == c.index).all()


def _same_as_cohort(t, days):
    from features.cohort import cohort_panel

    panel = cohort_panel(t, days)
    assert panel["as_of"].dtype == "datetime64[s]"
    for day in sorted({pd.Timestamp(d) for d in days}):
        c = cohort(t, day.date())
        got = panel.loc[panel["as_of"] == day]
        assert got["code"].tolist() == c["code"].tolist(), day
        rows = t.students.iloc[got["row"].to_numpy()].drop(columns=["student_id"]).set_axis(c.index)
        pd.testing.assert_frame_equal(rows, c.drop(columns=["code"]))
    return panel


def test_cohort_panel_is_the_cohort_of_every_date():
    """Every date at once: the same members and ``students`` rows as :func:`cohort` date by
    date, on the hand-made county (row ending, class change, same-day mark and return,
    death) and on a simulated one."""
    from features.load import tables_from_frames
    from features.sim import simulate_county

    t = _county()
    days = pd.date_range("2024-09-29", "2024-12-02", freq="D")
    panel = _same_as_cohort(t, list(days) + [days[3]])  # a date twice counts once
    assert len(panel.loc[panel["as_of"] == "2024-10-08"]) == 3
    sim = tables_from_frames(simulate_county(students=300, years=2, seed=5, start_year=2022).frames).tables
    panel = _same_as_cohort(sim, pd.date_range("2022-08-25", "2024-08-01", freq="9D"))
    assert panel.groupby("as_of").size().nunique() > 1  # the cohort changes over the dates
    assert len(_same_as_cohort(sim, [])) == 0

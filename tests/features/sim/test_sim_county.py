"""The simulated county (features.sim.county): reproducibility, every table, no builder reads the truth."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from features.config import load_config
from features.load import load_tables
from features.sim import TRUTH_DIR, simulate_county, write_county

PACKAGE = Path(__file__).resolve().parents[3]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_give_byte_identical_files(tmp_path):
    for run in ("a", "b"):
        county = simulate_county(students=300, years=3, seed=11, preset="current", attendance=False)
        write_county(county, tmp_path / run)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b
    assert "attendance.parquet" in a and "truth/risk_monthly.parquet" in a


def test_another_seed_gives_another_county():
    a = simulate_county(students=300, years=1, seed=1, attendance=False)
    b = simulate_county(students=300, years=1, seed=2, attendance=False)
    assert not a.frames["students"]["sex"].equals(b.frames["students"]["sex"])


def test_every_contract_table_is_written_and_loads_without_rejects(tmp_path):
    county = simulate_county(students=400, years=3, seed=5, preset="reap_2010", attendance=False)
    write_county(county, tmp_path)
    result = load_tables(load_config(None).data, tmp_path)
    assert result.rejects.empty, result.rejects.head()
    for name in ("schools", "calendar", "classes", "students", "student_names", "guardians", "left_behind",
                 "hardship", "aid", "family_events", "attendance", "leave_requests", "exams", "exam_results",
                 "registry_events", "staff"):  # fmt: skip
        assert getattr(result.tables, name) is not None, name
    t = result.tables
    # at least 3 school years, a new grade-1 intake each year, grades 1-9 all present
    years = t.classes["academic_year"].unique()
    assert len(years) == 3
    assert set(t.students["grade"].unique()) == set(range(1, 10))
    enrol = t.registry_events[t.registry_events["event_type"] == "enrol"]
    assert enrol["event_date"].dt.year.nunique() >= 3
    events = set(t.registry_events["event_type"].astype(str))
    assert {"suspected_mark", "dropout_mark", "return_mark", "promote", "graduate", "transfer_out"} <= events
    # levels-only schools report levels and no scores
    assert t.exam_results["level"].notna().any() and t.exam_results["score"].notna().any()
    # the students table carries no names: they are in student_names only
    assert "name" not in t.students.columns
    # made-up names of schools, classes and staff (the contract's optional columns, issue 19)
    assert t.schools["name"].notna().all() and t.schools["name"].is_unique
    assert t.staff["name"].notna().all() and t.staff["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    zh = dict(enumerate("一二三四五六七八九", start=1))
    want = [
        f"{zh[g]}年级({c.rsplit('-', 1)[1]})班"
        for g, c in zip(t.classes["grade"], t.classes["class_id"], strict=True)
    ]
    assert t.classes["name"].tolist() == want
    assert not t.schools["township"].str.fullmatch(r"T\d+").any()  # townships by name, not T01


def test_no_builder_reads_the_truth(tmp_path):
    """Static: no module outside the simulator names the truth folder; runtime: loading reads no file in it."""
    offenders = []
    for path in (PACKAGE / "features").rglob("*.py"):
        if path.relative_to(PACKAGE / "features").parts[0] == "sim":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (node.value.strip("/") == "truth" or "truth/" in node.value)
            ):
                offenders.append(f"{path.name}: {node.value!r}")
            if isinstance(node, ast.Name | ast.Attribute) and "TRUTH_DIR" in ast.dump(node):
                offenders.append(f"{path.name}: TRUTH_DIR")
    assert not offenders, offenders
    county = simulate_county(students=200, years=1, seed=1, attendance=False)
    write_county(county, tmp_path)
    import features.load as load_mod

    seen: list[Path] = []
    real = load_mod.read_file

    def spy(table, path, **kw):
        seen.append(Path(path))
        return real(table, path, **kw)

    load_mod.read_file = spy
    try:
        load_tables(load_config(None).data, tmp_path)
    finally:
        load_mod.read_file = real
    assert seen and not any(TRUTH_DIR in p.parts for p in seen)

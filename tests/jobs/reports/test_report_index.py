"""The page to open first: grouped by school and class, with the students per tier, so a
person finds their own list at once (issue 19: it was a bare list of 226 file names)."""

from __future__ import annotations

import re

from risk.reporting import weekly_class_list
from risk.reporting.labels import class_label


def test_the_index_has_one_block_per_school_with_its_classes_and_their_tier_counts(report_set, inputs):
    page = report_set.index.read_text(encoding="utf-8")
    snap = inputs.snapshot
    schools = sorted(snap["school_id"].astype("str").unique())
    assert re.findall(r'<section class="school" id="school-([^"]+)"', page) == schools
    classes, names = inputs.tables.classes, inputs.tables.schools.set_index("school_id")["name"]
    class_name = dict(zip(classes["class_id"].astype("str"), classes["name"].astype("str"), strict=True))
    for school in schools:
        block = page.split(f'id="school-{school}"')[1].split("</section>")[0]
        assert f"schools/{school}.html" in block  # its summary, in its own block
        assert names[school] in block  # the school by its name (the contract's optional schools.name)
        mine = snap.loc[snap["school_id"].astype("str") == school]
        for class_id, rows in mine.groupby(mine["class_id"].astype("str")):
            row = block.split(f'data-class="{class_id}"')[1].split("</tr>")[0]
            cells = re.findall(r"<td>([^<]*)</td>", row)
            grade = rows["grade"].iloc[0]
            assert class_label(class_id, grade) != class_name[class_id]  # the name, not the fallback label
            # the counts at the head of the class's own list (issue 19: every count agrees)
            wl = weekly_class_list(snap, class_id, previous=inputs.previous, cases=inputs.cases,
                                   case_events=inputs.case_events, tables=inputs.tables)  # fmt: skip
            n = wl.tier_counts
            assert cells[:5] == [
                class_name[class_id],
                str(n["red"]),
                str(n["yellow"]),
                str(n["blue"]),
                str(len(rows)),
            ]
            assert f"classes/{class_id}.html" in row and f"classes/{class_id}.xlsx" in row
        # the red children's sheets sit under their school, labelled by class
        for sid in mine.loc[mine["tier"].astype("str") == "red", "student_id"].astype("str"):
            assert f"students/{sid}.html" in block
    # every written file is linked once from the page
    hrefs = re.findall(r'href="([^"]+)"', page)
    written = {p.relative_to(report_set.folder).as_posix() for p in report_set.files}
    assert written <= set(hrefs)


def test_classes_read_as_people_say_them():
    assert class_label("SCH00003-2023-g1-2", 1) == "一年级2班"
    assert class_label("SCH00003-2023-g9-10", 9) == "九年级10班"
    assert class_label("SCH00003-2023-g9-10", 9, "en") == "grade 9, class 10"
    assert class_label("初三(2)", 9) == "初三(2)"  # a county's own name stays as it was entered

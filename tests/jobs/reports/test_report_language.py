"""A zh report set holds no English word from the vocabularies of events, codes and labels,
and an en set no Chinese (issue 19: the case log was in English, so was the family event)."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from jobs.reports.bundle import write_all
from risk.reporting import labels as L

TABLES = [L.TIER_LABELS, L.LIST_GROUP_LABELS, L.CASE_TYPE_LABELS, L.CASE_STATUS_LABELS, L.REASON_LABELS,
          L.PLACEMENT_LABELS, L.EVENT_LABELS, L.FAMILY_EVENT_LABELS, L.SUBJECT_LABELS, L.OUTCOME_LABELS,
          L.ROLE_LABELS, L.INTERVENTION_LABELS]  # fmt: skip
#: the English words a zh page must not show: every code, and every English label of two letters
#: or more (a code such as "open" or "house_move" leaking through, or an untranslated label)
ENGLISH = sorted(
    {
        w
        for t in TABLES
        for code, (_, en) in t.items()
        for w in (code, en)
        if re.fullmatch(r"[a-z][a-z_ ]+", w)
    }
    - {"none"},  # "none" is also a word of the free-text reasons' English twin, never shown in zh
    key=len,
    reverse=True,
)


def visible_text(page: str) -> str:
    """What a reader sees: no tags, attributes, scripts, styles or embedded images."""
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return htmllib.unescape(page)


def _pages(folder):
    return sorted(p for p in folder.rglob("*.html"))


def test_a_zh_report_set_has_no_english_vocabulary(report_set):
    found = {}
    for path in _pages(report_set.folder):
        text = visible_text(path.read_text(encoding="utf-8"))
        text = re.sub(r"\b[A-Z0-9][A-Za-z0-9_-]*\b", " ", text)  # ids and codes of the county's own
        for w in ENGLISH:
            if re.search(rf"(?<![A-Za-z_]){re.escape(w)}(?![A-Za-z_])", text):
                found.setdefault(w, path.relative_to(report_set.folder).as_posix())
    assert not found, f"English words in zh reports (word -> first page): {found}"


@pytest.fixture(scope="module")
def en_set(inputs, tmp_path_factory):
    return write_all(inputs, tmp_path_factory.mktemp("en"), month="2024-03", language="en", students="red")


def test_an_en_report_set_has_no_chinese(en_set, inputs):
    names = set()
    if inputs.tables.student_names is not None:
        names = set(inputs.tables.student_names["name"].astype("str"))
    # proper names of schools, townships and staff are Chinese in any language too (a class's
    # name, 六年级(1)班, is not: an en report says "grade 6, class 1")
    names |= set(inputs.tables.schools["name"].astype("str")) | set(
        inputs.tables.schools["township"].astype("str")
    )
    names |= set(inputs.tables.staff["name"].astype("str"))
    found = {}
    for path in _pages(en_set.folder):
        text = visible_text(path.read_text(encoding="utf-8"))
        for n in sorted(names, key=len, reverse=True):  # names are Chinese in any language
            text = text.replace(n, " ")
        hits = re.findall(r"[\u4e00-\u9fff]+", text)
        if hits:
            found[path.relative_to(en_set.folder).as_posix()] = hits[:5]
    assert not found, f"Chinese in en reports: {dict(list(found.items())[:8])}"

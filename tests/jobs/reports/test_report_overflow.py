"""The static report set at phone (375 px) and A4 (794 px) width: nothing wider than the page
except inside an element marked scrollable (``.scroll``, overflow-x: auto): issue 19 found the
monthly tables clipped at screen width. pytest-playwright on the Debian chromium, as the web
app's browser tests."""

from __future__ import annotations

import shutil

import pytest

from tests.jobs.reports._helpers import path_of
from tests.jobs.web.test_web_overflow import assert_no_overflow

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs the Debian chromium on PATH (apt-get install chromium fonts-noto-cjk)"
)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


def test_the_main_reports_fit_a_phone_and_an_a4_page(report_set, busiest_class, inputs, page):
    school = str(inputs.snapshot.loc[inputs.snapshot["class_id"] == busiest_class, "school_id"].iloc[0])
    sheets = [p for p in report_set.files if p.parent.name == "students" and p.suffix == ".html"]
    pages = {
        "index": report_set.index,
        "class list": path_of(report_set, f"{busiest_class}.html"),
        "school summary": path_of(report_set, f"{school}.html"),
        "monthly report": path_of(report_set, "monthly-2024-03.html"),
    }
    pages.update({f"一生一案 {p.stem}": p for p in sheets[:6]})
    for where, path in pages.items():
        page.goto(path.resolve().as_uri())
        assert_no_overflow(page, where)

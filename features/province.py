"""A province's data: one folder of Hive-style partitions by county.

Layout::

    PROVINCE/
        county=<code>/students.parquet     (every contract table of that county)
        county=<code>/attendance.parquet
        ...

Each ``county=<code>`` folder is an ordinary county folder (what :func:`features.load.load_tables`
reads); the province adds nothing but the partition key. The contract's ids are national
(``student_id`` is the keyed hash of the 学籍号, ``school_id`` the 学校标识码), so they are unique
across the counties by construction; the simulator prefixes its local ids with the county code
for the same effect (:func:`features.sim.simulate_province`). A student who moved between two counties
appears in both, with the same id: each county's ledger only follows its own roster.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> for code in ("990102", "990101"):
...     (root / f"county={code}").mkdir()
>>> sorted(county_partitions(root))
['990101', '990102']
>>> county_partitions(root / "county=990101") is None   # an ordinary county folder
True
"""

from __future__ import annotations

import re
from pathlib import Path

from features.errors import DataContractError

__all__ = ["PARTITION_KEY", "county_partitions"]

#: the partition key of a province folder: ``county=<code>``
PARTITION_KEY = "county"

_CODE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")


def county_partitions(source: str | Path) -> dict[str, Path] | None:
    """The county folders of a province folder, by county code (sorted); ``None`` when
    ``source`` is not a province (a county folder, a file or a database URL).

    Raises
    ------
    DataContractError
        A partition folder whose code is empty or not letters, digits, ``-`` or ``_``; or
        table files at the top of a province folder (they would belong to no county).
    """
    if "://" in str(source):
        return None
    root = Path(source)
    if not root.is_dir():
        return None
    prefix = f"{PARTITION_KEY}="
    found: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        if p.is_dir() and p.name.startswith(prefix):
            code = p.name[len(prefix) :]
            if not _CODE.match(code):
                raise DataContractError(
                    f"province folder {root}: partition {p.name!r} has no valid county code "
                    "(expected county=<code>, letters, digits, '-' or '_')"
                )
            found[code] = p
    if not found:
        return None
    stray = sorted(
        p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".parquet", ".csv", ".xlsx")
    )
    if stray:
        raise DataContractError(
            f"province folder {root}: table file {stray[0]!r} is outside every county=<code> "
            f"partition ({len(stray)} such files); move it into its county's folder"
        )
    return found

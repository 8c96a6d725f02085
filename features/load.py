"""Load input tables, coerce them to the contract, validate, and reject bad rows.

Whole-table problems raise :class:`~features.errors.DataContractError`; row problems
never raise: the row goes to the rejects frame (``table, file_row, column, value,
reason``) and loading goes on.

Examples
--------
>>> import pandas as pd
>>> frames = {
...     "students": pd.DataFrame({"student_id": ["a", "b"], "valid_from": ["2024-09-01"] * 2,
...                               "school_id": ["s1"] * 2, "grade": [7, 7], "sex": ["M", "X"],
...                               "birth_ym": ["2011-03", "2011-05"]}),
...     "attendance": pd.DataFrame({"student_id": ["a"], "date": ["2024-09-02"], "status": ["present"]}),
...     "exams": pd.DataFrame({"exam_id": ["e1"], "school_id": ["s1"], "grade": [7],
...                            "exam_type": ["final"], "exam_date": ["2025-01-10"]}),
...     "exam_results": pd.DataFrame({"student_id": ["a"], "exam_id": ["e1"], "subject": ["math"],
...                                   "score": [88.0], "full_marks": [100.0]}),
...     "registry_events": pd.DataFrame({"student_id": ["a"], "event_date": ["2024-09-01"],
...                                      "event_type": ["enrol"]}),
... }
>>> result = tables_from_frames(frames, max_reject_share=1.0)
>>> result.tables.students["student_id"].tolist()
['a']
>>> result.rejects[["table", "file_row", "column", "value"]].values.tolist()
[['students', 3, 'sex', 'X']]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.contract import SCHEMAS, TABLES, ColumnSpec, Tables, TableSpec
from features.errors import DataContractError

__all__ = ["LoadResult", "REJECT_COLUMNS", "tables_from_frames", "coerce_table"]

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["table", "file_row", "column", "value", "reason"]

#: the row number a person sees in a spreadsheet: header is row 1, first data row is 2
_FIRST_FILE_ROW = 2

_TRUE = {"true", "1", "yes", "y", "t", "是", "有", "√"}
_FALSE = {"false", "0", "no", "n", "f", "否", "无", "×"}


@dataclass(frozen=True)
class LoadResult:
    """What loading produced: validated tables, rejected rows and per-table counts."""

    tables: Tables
    rejects: pd.DataFrame
    rows_read: dict[str, int] = field(default_factory=dict)

    def rows_rejected(self) -> dict[str, int]:
        """Rows lost per table (a row rejected for two reasons counts once)."""
        if self.rejects.empty:
            return {}
        r = self.rejects.drop_duplicates(["table", "file_row"])
        return r.groupby("table").size().to_dict()


def _rejects(table: str, rows: np.ndarray, column: str, values, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": table,
            "file_row": np.asarray(rows, dtype="int64"),
            "column": column,
            "value": pd.Series(values, dtype="object").astype("str").to_numpy(),
            "reason": reason,
        }
    )


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "file_row" else "str") for c in REJECT_COLUMNS})


def _coerce_column(s: pd.Series, col: ColumnSpec) -> tuple[pd.Series, np.ndarray]:
    """Coerce one column to its contract dtype; returns the new column and a mask of values
    that were present but could not be read (they become rejects, not silent NaN)."""
    present = s.notna().to_numpy().copy()
    if s.dtype == "str" or s.dtype == object:
        stripped = s.astype("str").str.strip()
        present &= (stripped != "").to_numpy()
        s = stripped.where(pd.Series(present, index=s.index))
    kind = col.kind
    if kind in ("id", "str"):
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype("str")
        out = s.astype("str").where(pd.Series(present, index=s.index)) if s.dtype != "str" else s
        return out.astype("str"), np.zeros(len(s), bool)
    if kind == "category":
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype("str")
        text = s.astype("str").where(pd.Series(present, index=s.index))
        # unknown codes stay visible as text for pandera's isin check; the category
        # conversion happens after validation
        return text, np.zeros(len(s), bool)
    if kind in ("int", "float"):
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            num = pd.to_numeric(s, errors="coerce")
        else:
            num = pd.to_numeric(s.astype("str").where(pd.Series(present, index=s.index)), errors="coerce")
        bad = present & num.isna().to_numpy()
        if kind == "int":
            frac = num.notna() & (num.round() != num)
            bad |= frac.to_numpy()
            num = num.where(~frac)
            return num.astype("Int64"), bad
        return num.astype("float64"), bad
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype("boolean"), np.zeros(len(s), bool)
        text = s.astype("str").str.strip().str.lower()
        val = pd.Series(pd.NA, index=s.index, dtype="boolean")
        val[text.isin(_TRUE).to_numpy()] = True
        val[text.isin(_FALSE).to_numpy()] = False
        bad = present & val.isna().to_numpy()
        return val, bad
    if kind in ("date", "month"):
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            d = s
        else:
            text = s.astype("str").where(pd.Series(present, index=s.index))
            if kind == "month":
                # accept 2011-03, 2011/03, 201103, 2011-03-15, 2011.03
                norm = text.str.replace(r"^(\d{4})[-/.]?(\d{1,2})$", r"\1-\2-01", regex=True)
                d = pd.to_datetime(norm, errors="coerce", format="mixed")
            else:
                d = pd.to_datetime(text, errors="coerce", format="mixed")
        d = d.dt.tz_localize(None) if getattr(d.dt, "tz", None) is not None else d
        d = d.dt.normalize()
        if kind == "month":
            d = d.dt.to_period("M").dt.to_timestamp()
        bad = present & d.isna().to_numpy()
        # impossible years (typos such as 0224 or 2204) are as bad as unparseable text
        year = d.dt.year
        out_of_range = d.notna() & ((year < 1950) | (year > 2100))
        bad |= out_of_range.to_numpy()
        d = d.where(~out_of_range)
        return d.astype("datetime64[s]"), bad
    raise AssertionError(kind)


def coerce_table(
    table: str, frame: pd.DataFrame, *, file_rows: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce ``frame`` to ``table``'s contract and validate it row by row.

    Returns the clean frame (contract columns only, contract dtypes, extra columns
    dropped) and the rejects. Raises :class:`DataContractError` when a required
    column is missing.
    """
    t: TableSpec = TABLES[table]
    missing = [c.name for c in t.columns if c.required and c.name not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:12]))
        raise DataContractError(
            f"{table}: required column(s) {', '.join(missing)} missing; found: {have}. "
            f"Rename them in the file or map the county's headers in [data.columns]."
        )
    rows = np.arange(len(frame)) + _FIRST_FILE_ROW if file_rows is None else np.asarray(file_rows)
    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    bad_parts: list[pd.DataFrame] = []
    bad_any = np.zeros(len(frame), bool)
    for col in t.columns:
        if col.name not in frame.columns:
            dtype = "str" if col.kind == "category" else col.dtype
            out[col.name] = pd.Series(None, index=frame.index, dtype=dtype)
            continue
        s, bad = _coerce_column(frame[col.name], col)
        if bad.any():
            what = {
                "int": "an integer",
                "float": "a number",
                "bool": "yes/no (是/否, 1/0, true/false)",
                "date": "a date (YYYY-MM-DD) between 1950 and 2100",
                "month": "a month (YYYY-MM) between 1950 and 2100",
            }[col.kind]
            bad_parts.append(_rejects(table, rows[bad], col.name, frame[col.name][bad], f"not {what}"))
            bad_any |= bad
        out[col.name] = s
    clean = pd.DataFrame(out, index=frame.index)
    keep = ~bad_any
    # pandera: null rules, code lists and ranges, collected lazily into failure cases
    sub = clean.loc[keep]
    try:
        SCHEMAS[table].validate(sub, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna()]
        for (column, check), grp in fc.groupby(["column", "check"], sort=False):
            idx = grp["index"].astype("int64").to_numpy()
            idx = np.unique(idx)
            reason = "missing value" if str(check) == "not_nullable" else f"value must be {check}"
            if column in t.names and t.column(column).values is not None and reason != "missing value":
                reason = f"unknown code; must be one of {list(t.column(column).values)} (map county codes in [data.values])"
            bad_parts.append(
                _rejects(
                    table,
                    rows[idx],
                    str(column),
                    frame.loc[idx, column] if column in frame.columns else [None] * len(idx),
                    reason,
                )
            )
            bad_any[idx] = True
    clean = clean.loc[~bad_any].copy()
    for col in t.columns:
        if col.kind == "category":
            clean[col.name] = pd.Categorical(clean[col.name], categories=list(col.values or ()))
        elif col.kind == "bool" and not col.nullable:
            clean[col.name] = clean[col.name].astype("bool")
        elif col.kind == "int" and not col.nullable:
            clean[col.name] = clean[col.name].astype("int64")
    clean["_file_row"] = rows[~bad_any]
    rejects = pd.concat(bad_parts, ignore_index=True) if bad_parts else _empty_rejects()
    return clean.reset_index(drop=True), rejects


def _dedupe(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Exact duplicates are repaired (the copy is listed as rejected); rows that share a key
    but differ are all rejected: baoxue cannot know which one is right."""
    t = TABLES[table]
    parts: list[pd.DataFrame] = []
    data_cols = list(t.names)
    exact = frame.duplicated(subset=data_cols, keep="first")
    if exact.any():
        parts.append(
            _rejects(
                table,
                frame.loc[exact, "_file_row"].to_numpy(),
                "*",
                frame.loc[exact, list(t.key)].astype("str").agg("|".join, axis=1),
                "exact duplicate of an earlier row (kept the first)",
            )
        )
        frame = frame.loc[~exact]
    key = [k for k in t.key if k in frame.columns]
    clash = frame.duplicated(subset=key, keep=False) if key else pd.Series(False, index=frame.index)
    if clash.any():
        parts.append(
            _rejects(
                table,
                frame.loc[clash, "_file_row"].to_numpy(),
                "+".join(key),
                frame.loc[clash, key].astype("str").agg("|".join, axis=1),
                f"conflicting rows share the key ({', '.join(key)}); fix the source",
            )
        )
        frame = frame.loc[~clash]
    return frame, parts


def tables_from_frames(
    frames: Mapping[str, pd.DataFrame],
    *,
    max_reject_share: float = 0.05,
    file_rows: Mapping[str, np.ndarray] | None = None,
) -> LoadResult:
    """Validate raw frames (already in contract column names) into a :class:`LoadResult`.

    Unknown ``student_id`` values (not in ``students``) are rejected in every other
    table. A required table that loses more than ``max_reject_share`` of its rows
    raises :class:`DataContractError`.
    """
    unknown = sorted(set(frames) - set(TABLES))
    if unknown:
        raise DataContractError(f"unknown table(s) {unknown}; the contract has {sorted(TABLES)}")
    missing = [t for t, spec_ in TABLES.items() if spec_.required and t not in frames]
    if missing:
        raise DataContractError(
            f"required table(s) {', '.join(missing)} missing; every data folder needs "
            f"students, attendance, exams, exam_results and registry_events"
        )
    file_rows = file_rows or {}
    clean: dict[str, pd.DataFrame] = {}
    parts: list[pd.DataFrame] = []
    rows_read: dict[str, int] = {}
    for name, frame in frames.items():
        rows_read[name] = len(frame)
        c, r = coerce_table(name, frame, file_rows=file_rows.get(name))
        parts.append(r)
        c, dup = _dedupe(name, c)
        parts.extend(dup)
        clean[name] = c
    # one student index for every table
    ids = pd.Index(clean["students"]["student_id"].unique()).sort_values()
    for name, frame in clean.items():
        if "student_id" not in frame.columns:
            continue
        cat = pd.Categorical(frame["student_id"], categories=ids)
        unknown_id = cat.codes == -1
        if unknown_id.any() and name != "students":
            parts.append(
                _rejects(
                    name,
                    frame.loc[unknown_id, "_file_row"].to_numpy(),
                    "student_id",
                    frame.loc[unknown_id, "student_id"],
                    "student_id not in the students table",
                )
            )
        frame = frame.loc[~unknown_id].copy()
        frame["student_id"] = pd.Categorical(frame["student_id"], categories=ids)
        clean[name] = frame
    rejects = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else _empty_rejects()
    )
    result_tables = {n: f.drop(columns="_file_row").reset_index(drop=True) for n, f in clean.items()}
    result = LoadResult(tables=Tables(**result_tables), rejects=rejects, rows_read=rows_read)
    lost = result.rows_rejected()
    for name in (n for n in TABLES if TABLES[n].required):
        n_read = rows_read.get(name, 0)
        if n_read and lost.get(name, 0) / n_read > max_reject_share:
            top = rejects[rejects["table"] == name]["reason"].value_counts().head(3)
            raise DataContractError(
                f"{name}: {lost[name]} of {n_read} rows rejected "
                f"({lost[name] / n_read:.1%} > max_reject_share {max_reject_share:.0%}); "
                f"main reasons: {'; '.join(f'{k} ({v})' for k, v in top.items())}. "
                f"See the rejects file; fix the export or raise [data] max_reject_share."
            )
    log.info("loaded %s", {n: len(f) for n, f in result_tables.items()})
    return result

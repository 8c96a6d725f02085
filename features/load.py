"""Load input tables, coerce them to the contract, validate, and reject bad rows.

Whole-table problems raise :class:`~features.errors.DataContractError`; row problems
never raise: the row goes to the rejects frame (``table, file_row, column, value,
reason``) and loading goes on.

Examples
--------
>>> from features._examples import example_frames
>>> frames = example_frames(students={"sex": ["M", "X"], "birth_ym": ["2011-03", "2011-05"]})  # b: sex 'X'
>>> result = tables_from_frames(frames, max_reject_share=1.0)
>>> result.tables.students["student_id"].tolist()
['a']
>>> result.rejects[["table", "file_row", "column", "value"]].values.tolist()
[['students', 3, 'sex', 'X']]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.config import DataConfig
from features.contract import SCHEMAS, TABLES, ColumnSpec, Tables, TableSpec
from features.errors import DataContractError

__all__ = [
    "LoadResult",
    "REJECT_COLUMNS",
    "REJECTS_CSV_MAX_ROWS",
    "RejectShareError",
    "SET_TO_MISSING",
    "lost_rows",
    "coerce_table",
    "load_tables",
    "read_file",
    "read_source",
    "read_sources",
    "roster_ids",
    "check_table_names",
    "check_table_set",
    "source_files",
    "is_url",
    "SourceRead",
    "validate_coerced",
    "default_rejects_path",
    "rejects_summary",
    "summarize",
    "tables_from_frames",
    "write_rejects",
]

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["table", "file_row", "column", "value", "reason"]

#: the row number a person sees in a spreadsheet: header is row 1, first data row is 2
_FIRST_FILE_ROW = 2

_TRUE = {"true", "1", "yes", "y", "t", "是", "有", "√"}
_FALSE = {"false", "0", "no", "n", "f", "否", "无", "×"}


#: the end of a reject reason whose row was kept: an optional value that cannot be right
#: became missing (the child stays in the cohort)
SET_TO_MISSING = "set to missing, row kept"

#: above this many rejects the rejects file is Parquet, with a CSV summary (Excel's row limit
#: is 1,048,576)
REJECTS_CSV_MAX_ROWS = 1_000_000


def _row_cols(rejects: pd.DataFrame) -> list[str]:
    return ["table", "sheet", "file_row"] if "sheet" in rejects.columns else ["table", "file_row"]


def lost_rows(rejects: pd.DataFrame) -> pd.DataFrame:
    """The rejects of rows that were dropped (one line per row): without the values set to
    missing, whose rows were kept."""
    if rejects.empty:
        return rejects
    dropped = rejects.loc[~rejects["reason"].astype("str").str.endswith(SET_TO_MISSING)]
    return dropped.drop_duplicates(_row_cols(dropped))


@dataclass(frozen=True)
class LoadResult:
    """What loading produced: validated tables, rejected rows and per-table counts.

    ``repaired``: exact duplicate rows dropped per table (not rejects: the first copy is
    kept); ``sheets``: one record per XLSX sheet read or skipped (``table, file, sheet,
    rows, read, note``); ``calendar``: which school calendar the features use.
    """

    tables: Tables
    rejects: pd.DataFrame
    rows_read: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    sheets: tuple[dict, ...] = ()
    calendar: str = ""

    def rows_rejected(self) -> dict[str, int]:
        """Rows lost per table (a row rejected for two reasons counts once; a value set to
        missing loses no row)."""
        lost = lost_rows(self.rejects)
        if lost.empty:
            return {}
        return lost.groupby("table").size().to_dict()

    def report(self) -> list[str]:
        """The load report's lines: sheets read and skipped, values set to missing, exact
        duplicates repaired, and the calendar in use."""
        lines = []
        for sh in self.sheets:
            verb = "read" if sh["read"] else "skipped"
            lines.append(
                f"{sh['table']}: {verb} sheet {sh['sheet']!r} of {sh['file']} ({sh['rows']:,} rows)"
                + (f": {sh['note']}" if sh.get("note") else "")
            )
        if not self.rejects.empty:
            soft = self.rejects.loc[self.rejects["reason"].astype("str").str.endswith(SET_TO_MISSING)]
            for (table, column), n in soft.groupby(["table", "column"]).size().items():
                lines.append(f"{table}.{column}: {n:,} impossible values set to missing (rows kept)")
        for table, n in self.repaired.items():
            lines.append(f"{table}: {n:,} exact duplicate rows repaired (dropped, the first copy kept)")
        if self.calendar:
            lines.append(f"calendar: {self.calendar}")
        return lines


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


#: a timestamp written with its zone: 2024-09-01T16:30:00Z, 2024-09-01 16:30:00+00:00, +0800
_ZONED = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)$"


def _local_dates(text: pd.Series, timezone: str) -> pd.Series:
    """Parse dates; timestamps that carry a zone are converted to ``timezone`` first, so
    Sunday 16:30 UTC is Monday 00:30 in Beijing and counts on Monday."""
    zoned = text.str.contains(_ZONED, regex=True, na=False).to_numpy()
    if not zoned.any():
        return pd.to_datetime(text, errors="coerce", format="mixed")
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if (~zoned).any():
        naive = pd.to_datetime(text[~zoned], errors="coerce", format="mixed")
        out[~zoned] = naive.to_numpy()
    aware = pd.to_datetime(text[zoned], errors="coerce", format="mixed", utc=True)
    out[zoned] = aware.dt.tz_convert(timezone).dt.tz_localize(None).to_numpy()
    return out


def _coerce_values(
    s: pd.Series, col: ColumnSpec, timezone: str = "Asia/Shanghai"
) -> tuple[pd.Series, np.ndarray]:
    """Coerce one column to its contract dtype; returns the new column and a mask of values
    that were present but could not be read (they become rejects, not silent NaN).

    Dates are local school dates: a timestamp with a time zone (a tz-aware column, or text
    ending in ``Z`` or ``+00:00``) is converted to ``timezone`` before its date is taken."""
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
            # 2011年3月 / 2011年03月15日 (Chinese exports)
            text = text.str.replace(r"^(\d{4})年(\d{1,2})月(?:(\d{1,2})日)?$", _zh_date, regex=True)
            if kind == "month":
                # accept 2011-03, 2011/03, 201103, 2011-03-15, 2011.03
                norm = text.str.replace(r"^(\d{4})[-/.]?(\d{1,2})$", r"\1-\2-01", regex=True)
                d = pd.to_datetime(norm, errors="coerce", format="mixed")
            else:
                d = _local_dates(text, timezone)
        if getattr(d.dt, "tz", None) is not None:
            d = d.dt.tz_convert(timezone).dt.tz_localize(None)
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


def _zh_date(m: re.Match[str]) -> str:
    y, mo, d = m.group(1), int(m.group(2)), m.group(3)
    return f"{y}-{mo:02d}-{int(d):02d}" if d else f"{y}-{mo:02d}"


#: string columns at least this long are coerced through their distinct values
_FACTORIZE_MIN_ROWS = 10_000


def _categorical_from(codes: np.ndarray, values: pd.Series, index: pd.Index) -> pd.Series:
    """A category column whose row ``i`` is ``values[codes[i]]`` (code -1 or a missing value: NaN)."""
    v = values.to_numpy(dtype=object)
    ok = values.notna().to_numpy()
    cats, inverse = np.unique(v[ok].astype(str), return_inverse=True)
    remap = np.full(len(v) + 1, -1, dtype="int64")  # last slot serves code -1
    remap[np.flatnonzero(ok)] = inverse
    return pd.Series(
        pd.Categorical.from_codes(remap[codes], categories=pd.Index(cats, dtype="str")), index=index
    )


def _coerce_column(
    s: pd.Series, col: ColumnSpec, timezone: str = "Asia/Shanghai"
) -> tuple[pd.Series, np.ndarray]:
    """:func:`_coerce_values` on the distinct values of ``s`` when that is cheaper.

    Dictionary-encoded (category) columns and long text columns (18M attendance rows have a
    few hundred distinct dates and six status codes) are coerced once per distinct value and
    expanded by their codes; id, text and code columns stay ``category`` until the end.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, uniques = s.cat.codes.to_numpy(), pd.Series(s.cat.categories)
    elif (s.dtype == "str" or s.dtype == object) and len(s) >= _FACTORIZE_MIN_ROWS:
        codes, u = pd.factorize(s, use_na_sentinel=True)
        if len(u) > len(s) // 2:
            return _coerce_values(s, col, timezone)
        uniques = pd.Series(u)
    else:
        return _coerce_values(s, col, timezone)
    vals, bad_u = _coerce_values(uniques, col, timezone)
    bad = np.append(bad_u, False)[codes]
    if col.kind in ("id", "str", "category"):
        return _categorical_from(codes, vals, s.index), bad
    return pd.Series(vals.array.take(codes, allow_fill=True), index=s.index), bad


def _missing_columns_message(table: str, missing: list[str], have: pd.Index, origin: str | None) -> str:
    where = f" (file {origin})" if origin else ""
    found = ", ".join(map(str, have[:12])) + (", …" if len(have) > 12 else "")
    msg = (
        f"{table}{where}: required column(s) {', '.join(missing)} missing; found: {found or 'no columns'}. "
        f"Rename them in the file or map the county's headers in [data.columns]"
    )
    from features.mapping import read_mapping_file

    known = read_mapping_file("national_registry").headers_for(table)
    if any(str(h).strip() in known for h in have):
        msg += ', or use the built-in mapping: [data] mappings = ["national_registry"]'
    return msg + "."


def _check_reason(col: ColumnSpec | None, check: str) -> str:
    """The rejects file's words for a failed pandera check."""
    if check == "not_nullable":
        return "missing value"
    if col is None:
        return f"failed check {check}"
    if check.startswith("isin") and col.values is not None:
        return f"unknown code; must be one of {list(col.values)} (map county codes in [data.values])"
    if check.startswith("greater_than_or_equal_to") and col.ge is not None:
        return f"value must be >= {col.ge:g}"
    if check.startswith("less_than_or_equal_to") and col.le is not None:
        return f"value must be <= {col.le:g}"
    if check.startswith("str_length"):
        return "missing value"
    return f"failed check {check}"


#: optional columns that are the row's content, not a detail of it: a wrong value loses the row
_ROW_CONTENT = {("exam_results", "score"), ("exam_results", "level"), ("exam_results", "full_marks")}


def _soft(t: TableSpec, col: ColumnSpec) -> bool:
    """An optional column whose impossible value becomes missing instead of losing the row:
    not a key column, not ``valid_to`` (a missing end would keep an interval open), not an exam
    result's score, level or full marks (the result itself)."""
    return (
        not col.required
        and col.nullable
        and col.name not in t.key
        and col.name != "valid_to"
        and (t.name, col.name) not in _ROW_CONTENT
    )


def coerce_table(
    table: str,
    frame: pd.DataFrame,
    *,
    file_rows: np.ndarray | None = None,
    origin: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce ``frame`` to ``table``'s contract and validate it row by row.

    Returns the clean frame (contract columns only, contract dtypes, extra columns
    dropped, plus ``_file_row``) and the rejects. Raises :class:`DataContractError` when
    a required column is missing; ``origin`` (a file name) is quoted in that message.

    A value that cannot be read or breaks its column's check rejects the row, except in an
    optional column (not a key, not ``valid_to``): there it becomes missing and the row stays,
    with a reject line whose reason ends in :data:`SET_TO_MISSING` (a child with an absurd
    ``distance_km`` is still scored). Dates with a time zone are read in ``timezone``.
    """
    t: TableSpec = TABLES[table]
    missing = [c.name for c in t.columns if c.required and c.name not in frame.columns]
    if missing:
        raise DataContractError(_missing_columns_message(table, missing, frame.columns, origin))
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
        s, bad = _coerce_column(frame[col.name], col, timezone)
        if bad.any():
            what = {
                "int": "an integer",
                "float": "a number",
                "bool": "yes/no (是/否, 1/0, true/false)",
                "date": "a date (YYYY-MM-DD) between 1950 and 2100",
                "month": "a month (YYYY-MM) between 1950 and 2100",
            }[col.kind]
            if _soft(t, col):
                bad_parts.append(
                    _rejects(
                        table, rows[bad], col.name, frame[col.name][bad], f"not {what}; {SET_TO_MISSING}"
                    )
                )
                s = s.mask(pd.Series(bad, index=s.index))
            else:
                bad_parts.append(_rejects(table, rows[bad], col.name, frame[col.name][bad], f"not {what}"))
                bad_any |= bad
        out[col.name] = s
    clean = pd.DataFrame(out, index=frame.index)
    # pandera: null rules, code lists and ranges, collected lazily into failure cases
    sub = clean.loc[~bad_any] if bad_any.any() else clean
    try:
        SCHEMAS[table].validate(sub, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna()]
        for (column, check), grp in fc.groupby(["column", "check"], sort=False):
            idx = grp["index"].astype("int64").to_numpy()
            idx = np.unique(idx)
            spec_ = t.column(str(column)) if column in t.names else None
            reason = _check_reason(spec_, str(check))
            if spec_ is not None and _soft(t, spec_) and check != "not_nullable":
                bad_parts.append(
                    _rejects(
                        table, rows[idx], str(column), frame.loc[idx, column], f"{reason}; {SET_TO_MISSING}"
                    )
                )
                hit = np.zeros(len(clean), bool)
                hit[idx] = True
                clean[str(column)] = clean[str(column)].mask(pd.Series(hit, index=clean.index))
                continue
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
    clean = clean.loc[~bad_any].copy() if bad_any.any() else clean
    for col in t.columns:
        is_cat = isinstance(clean[col.name].dtype, pd.CategoricalDtype)
        if col.kind == "category" and is_cat:
            # codes outside the list were rejected above; this only reorders (cheap)
            clean[col.name] = clean[col.name].cat.set_categories(list(col.values or ()))
        elif col.kind == "category":
            clean[col.name] = pd.Categorical(clean[col.name], categories=list(col.values or ()))
        elif col.kind in ("id", "str") and is_cat and col.name != "student_id":
            clean[col.name] = clean[col.name].astype("str")
        elif col.kind == "bool" and not col.nullable:
            clean[col.name] = clean[col.name].astype("bool")
        elif col.kind == "int" and not col.nullable:
            clean[col.name] = clean[col.name].astype("int64")
    clean["_file_row"] = rows[~bad_any]
    rejects = pd.concat(bad_parts, ignore_index=True) if bad_parts else _empty_rejects()
    return clean.reset_index(drop=True), rejects


def _row_key(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One int64 per row that is equal exactly when the rows agree on ``cols`` (missing == missing).

    Built from category codes and factorized columns, so 18M attendance rows need no
    per-row Python and no string hashing.
    """
    key = np.zeros(len(frame), dtype="int64")
    for c in cols:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes, size = s.cat.codes.to_numpy().astype("int64") + 1, len(s.cat.categories) + 1
        elif pd.api.types.is_datetime64_any_dtype(s.dtype) and s.notna().any():
            # dates are midnight: whole days since the first one (0 = missing)
            nat = s.isna().to_numpy()
            days = s.to_numpy().astype("datetime64[D]").astype("int64")
            lo = days[~nat].min()
            codes = np.where(nat, 0, days - lo + 1)
            size = int(days[~nat].max() - lo) + 2
        else:
            f, uniq = pd.factorize(s, use_na_sentinel=True)
            codes, size = f.astype("int64") + 1, len(uniq) + 1
        if key.max(initial=0) >= (2**62) // size:
            key = pd.factorize(key)[0].astype("int64")
        key = key * size + codes
    return key


def _key_text(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """``a|2024-09-02|day`` for each row (vectorised; missing parts are empty)."""
    parts = []
    for c in cols:
        v = frame[c]
        if pd.api.types.is_datetime64_any_dtype(v.dtype):
            v = v.dt.strftime("%Y-%m-%d")
        parts.append(v.astype("str").fillna(""))
    return parts[0].str.cat(parts[1:], sep="|") if len(parts) > 1 else parts[0]


def _dedupe(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame], int]:
    """Exact duplicates are repaired (the first copy is kept; their number is returned, they
    are not rejects); rows that share a key but differ are all rejected: baoxue cannot know
    which one is right."""
    t = TABLES[table]
    parts: list[pd.DataFrame] = []
    key = [k for k in t.key if k in frame.columns]
    if not key or frame.empty:
        return frame, parts, 0
    rk = _row_key(frame, key)
    top = int(rk.max(initial=0))
    if top < 4 * len(rk) + 1024:  # dense keys: counting beats hashing 18M rows
        same_key = np.bincount(rk, minlength=top + 1)[rk] > 1
    else:  # sorting beats hashing too
        srt = np.sort(rk)
        shared = np.unique(srt[1:][srt[1:] == srt[:-1]])
        same_key = np.isin(rk, shared) if len(shared) else np.zeros(len(rk), bool)
    if not same_key.any():
        return frame, parts, 0
    # exact duplicates can only be among the rows that share a key
    sub = frame.loc[same_key]
    exact_sub = sub.duplicated(subset=list(t.names), keep="first")
    exact = np.zeros(len(frame), bool)
    exact[np.flatnonzero(same_key)[exact_sub.to_numpy()]] = True
    n_exact = int(exact.sum())
    if n_exact:
        log.warning("%s: %d exact duplicate rows repaired (dropped, the first copy kept)", table, n_exact)
        frame = frame.loc[~exact]
    # after removing exact copies, a key still shared by rows that differ is a clash
    same_key = same_key[~exact]
    clash = np.zeros(len(frame), bool)
    if same_key.any():
        clash[same_key] = frame.loc[same_key].duplicated(subset=key, keep=False).to_numpy()
    if clash.any():
        parts.append(
            _rejects(
                table,
                frame.loc[clash, "_file_row"].to_numpy(),
                "+".join(key),
                _key_text(frame.loc[clash], key),
                f"conflicting rows share the key ({', '.join(key)}); fix the source",
            )
        )
        frame = frame.loc[~clash]
    return frame, parts, n_exact


def _reject_mask(
    table: str, frame: pd.DataFrame, mask: np.ndarray, column: str, values: pd.Series, reason: str
) -> pd.DataFrame:
    return _rejects(table, frame.loc[mask, "_file_row"].to_numpy(), column, values[mask], reason)


def _months(d: pd.Series) -> pd.Series:
    return d.dt.year * 12 + d.dt.month


#: a child starts compulsory school at 6; a roster row for a child under 4 is a typo
_MIN_AGE_YEARS = 4


def _row_rules(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Rules between columns of one row (intervals, score vs full marks, age)."""
    parts: list[pd.DataFrame] = []
    bad = np.zeros(len(frame), bool)

    def add(mask: pd.Series, column: str, reason: str, values: pd.Series | None = None) -> None:
        m = mask.fillna(False).to_numpy(dtype=bool) & ~bad
        if m.any():
            v = frame[column] if values is None else values
            parts.append(_reject_mask(table, frame, m, column, v.astype("str"), reason))
            bad[m] = True

    cols = frame.columns
    if "valid_from" in cols and "valid_to" in cols:
        add(frame["valid_to"] < frame["valid_from"], "valid_to", "valid_to is before valid_from")
    if table == "leave_requests":
        add(frame["end_date"] < frame["start_date"], "end_date", "end_date is before start_date")
    if table == "students":
        vf, born = frame["valid_from"], frame["birth_ym"]
        add(born > vf, "birth_ym", "birth_ym is after valid_from")
        add(
            _months(vf) - _months(born) < 12 * _MIN_AGE_YEARS,
            "birth_ym",
            f"birth_ym is fewer than {_MIN_AGE_YEARS} years before valid_from",
        )
    if table == "exam_results":
        absent = frame["absent"].fillna(False).astype(bool)
        add(
            frame["score"].isna() & frame["level"].isna() & ~absent,
            "score",
            "neither score nor level, and not marked absent",
        )
        add(
            frame["score"] > frame["full_marks"],
            "score",
            "score is above full_marks",
            frame["score"].astype("str") + " > " + frame["full_marks"].astype("str"),
        )
    return (frame.loc[~bad] if bad.any() else frame), parts


_LEAVE_STATUSES = ("leave_sick", "leave_personal")


def _cross_rules(clean: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Rules between tables: results of unknown exams, leave days outside their leave."""
    parts: list[pd.DataFrame] = []
    er, exams = clean["exam_results"], clean["exams"]
    orphan = ~er["exam_id"].isin(exams["exam_id"]).to_numpy()
    if orphan.any():
        parts.append(
            _reject_mask(
                "exam_results", er, orphan, "exam_id", er["exam_id"], "exam_id not in the exams table"
            )
        )
        clean["exam_results"] = er.loc[~orphan]
    leaves = clean.get("leave_requests")
    att = clean["attendance"]
    if leaves is not None and len(leaves) and att["leave_id"].notna().any():
        is_leave = att["status"].isin(_LEAVE_STATUSES).to_numpy() & att["leave_id"].notna().to_numpy()
        idx = np.flatnonzero(is_leave)
        lv = leaves.set_index("leave_id")[["start_date", "end_date"]]
        pos = lv.index.get_indexer(att["leave_id"].to_numpy()[idx])
        found = pos >= 0
        idx, pos = idx[found], pos[found]
        day = att["date"].to_numpy()[idx]
        outside = (day < lv["start_date"].to_numpy()[pos]) | (day > lv["end_date"].to_numpy()[pos])
        if outside.any():
            mask = np.zeros(len(att), bool)
            mask[idx[outside]] = True
            parts.append(
                _reject_mask(
                    "attendance",
                    att,
                    mask,
                    "date",
                    att["date"].dt.strftime("%Y-%m-%d"),
                    "a leave status on a date outside its leave request (start_date..end_date)",
                )
            )
            clean["attendance"] = att.loc[~mask]
    return parts


class RejectShareError(DataContractError):
    """A required table lost more than ``max_reject_share`` of its rows. ``rejects`` holds
    every reject (for the rejects file); ``path`` the file written, when one was."""

    def __init__(self, message: str, rejects: pd.DataFrame, path: Path | None = None) -> None:
        super().__init__(message)
        self.rejects = rejects
        self.path = path


def _labeller(row_labels: Mapping[str, tuple[np.ndarray | None, np.ndarray]]):
    """``label(table, internal_rows) -> (sheets, rows)``: the sheet and spreadsheet row a person
    sees, from the internal row numbers (position in the read frame + 2)."""

    def label(table: str, rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        rows = np.asarray(rows, dtype="int64")
        if table not in row_labels:
            return None, rows
        sheets, shown = row_labels[table]
        pos = rows - _FIRST_FILE_ROW
        return (None if sheets is None else sheets[pos]), shown[pos]

    return label


def _row_text(sheet, row) -> str:
    return f"sheet {sheet!r} row {row}" if sheet not in (None, "") else f"row {row}"


def tables_from_frames(
    frames: Mapping[str, pd.DataFrame],
    *,
    max_reject_share: float = 0.05,
    file_rows: Mapping[str, np.ndarray] | None = None,
    origins: Mapping[str, str] | None = None,
    row_labels: Mapping[str, tuple[np.ndarray | None, np.ndarray]] | None = None,
    timezone: str = "Asia/Shanghai",
    rejects_path: str | Path | None = None,
) -> LoadResult:
    """Validate raw frames (already in contract column names) into a :class:`LoadResult`.

    Row rules (see :func:`load_tables`) move rows to the rejects. Unknown ``student_id``
    values (not in ``students``) are rejected in every other table; when the student's roster
    rows were rejected the reason says so and names the roster row. A required table that
    loses more than ``max_reject_share`` of its rows raises :class:`RejectShareError` (exact
    duplicate copies are repaired, not lost, and values set to missing lose no row); with
    ``rejects_path`` the rejects file is written first and the message names it.
    ``file_rows`` gives each table's row numbers (default: header = row 1, first data row =
    2); ``row_labels`` maps them (position + 2) to the sheet and row a person sees; ``origins``
    the file each table came from, for messages; ``timezone`` the zone dates are read in.
    """
    check_table_set(frames)
    file_rows = file_rows or {}
    origins = origins or {}
    coerced = {
        name: coerce_table(
            name, frame, file_rows=file_rows.get(name), origin=origins.get(name), timezone=timezone
        )
        for name, frame in frames.items()
    }
    return validate_coerced(
        coerced,
        rows_read={name: len(frame) for name, frame in frames.items()},
        roster=roster_ids(frames["students"], file_rows.get("students")),
        max_reject_share=max_reject_share,
        row_labels=row_labels,
        rejects_path=rejects_path,
    )


def check_table_set(names) -> None:
    """Every required table is there and no unknown one: else a
    :class:`~features.errors.DataContractError` naming them."""
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        raise DataContractError(f"unknown table(s) {unknown}; the contract has {sorted(TABLES)}")
    missing = [t for t, spec_ in TABLES.items() if spec_.required and t not in names]
    if missing:
        raise DataContractError(
            f"required table(s) {', '.join(missing)} missing; every data folder needs "
            f"students, attendance, exams, exam_results and registry_events "
            f"(files <table>.parquet, .csv or .xlsx, or tables of that name in the database)"
        )


def roster_ids(students: pd.DataFrame, rows: np.ndarray | None = None) -> pd.Series | None:
    """The roster's ``student_id`` as read (after pseudonymisation, before validation), indexed
    by file row: what :func:`validate_coerced` needs of the raw roster to name the roster row
    behind a cascade reject. None when the roster has no ``student_id`` column."""
    if "student_id" not in students.columns:
        return None
    rows = np.arange(len(students)) + _FIRST_FILE_ROW if rows is None else np.asarray(rows)
    return pd.Series(students["student_id"].astype("str").to_numpy(), index=pd.Index(rows, dtype="int64"))


def validate_coerced(
    coerced: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
    *,
    rows_read: Mapping[str, int],
    roster: pd.Series | None,
    max_reject_share: float = 0.05,
    row_labels: Mapping[str, tuple[np.ndarray | None, np.ndarray]] | None = None,
    rejects_path: str | Path | None = None,
) -> LoadResult:
    """The table-wide half of :func:`tables_from_frames`, on tables already coerced row by row.

    ``coerced`` maps each table to what :func:`coerce_table` gave (clean rows with
    ``_file_row``, in file order, and the row rejects); ``rows_read`` the rows read per table;
    ``roster`` the raw roster ids (:func:`roster_ids`). Runs what needs the whole table: key
    uniqueness (exact copies repaired, clashes rejected), the row rules, the rules between
    tables, unknown students, the reject share. The validated store (:mod:`features.store`)
    calls it with rows coerced on earlier nights; a full load with tonight's.
    """
    label = _labeller(row_labels or {})
    clean: dict[str, pd.DataFrame] = {}
    parts: list[pd.DataFrame] = []
    rows_read = dict(rows_read)
    repaired: dict[str, int] = {}
    for name, (c, r) in coerced.items():
        parts.append(r)
        c, dup, n_exact = _dedupe(name, c)
        if n_exact:
            repaired[name] = n_exact
        parts.extend(dup)
        c, bad = _row_rules(name, c)
        parts.extend(bad)
        clean[name] = c
    parts.extend(_cross_rules(clean))
    # one student index for every table
    sid = clean["students"]["student_id"]
    ids = pd.Index(
        sid.cat.categories[np.unique(sid.cat.codes)]
        if isinstance(sid.dtype, pd.CategoricalDtype)
        else sid.unique(),
        dtype="str",
    ).sort_values()
    roster_rejected = _rejected_roster_rows(roster, parts, ids)
    for name, frame in clean.items():
        if "student_id" not in frame.columns:
            continue
        s = frame["student_id"]
        cat = (
            s.cat.set_categories(ids)
            if isinstance(s.dtype, pd.CategoricalDtype)
            else pd.Series(pd.Categorical.from_codes(ids.get_indexer(s), categories=ids), index=s.index)
        )
        unknown_id = (cat.cat.codes == -1).to_numpy()
        if unknown_id.any() and name != "students":
            text = s[unknown_id].astype("str")
            root = text.map(roster_rejected)
            cascade = root.notna().to_numpy()
            rows = frame.loc[unknown_id, "_file_row"].to_numpy()
            if (~cascade).any():
                parts.append(
                    _rejects(
                        name,
                        rows[~cascade],
                        "student_id",
                        text[~cascade],
                        "student_id not in the students table",
                    )
                )
            if cascade.any():
                sh, shown = label("students", root[cascade].to_numpy(dtype="int64"))
                where = [_row_text(None if sh is None else sh[i], shown[i]) for i in range(len(shown))]
                reasons = [f"student's roster row was rejected: see students {w}" for w in where]
                part = _rejects(name, rows[cascade], "student_id", text[cascade], "")
                part["reason"] = pd.Series(reasons, dtype="str").to_numpy()
                parts.append(part)
        frame = frame.assign(student_id=cat)
        clean[name] = frame.loc[~unknown_id] if unknown_id.any() else frame
    rejects = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else _empty_rejects()
    )
    # names are for reports only: never copied into the rejects file
    withheld = (rejects["table"] == "student_names") & (rejects["column"] == "name")
    rejects.loc[withheld, "value"] = "(withheld)"
    lost = {k: int(v) for k, v in lost_rows(rejects).groupby("table").size().items()} if len(rejects) else {}
    rejects = _shown_rows(rejects, label, row_labels or {})
    over = [
        n
        for n in TABLES
        if TABLES[n].required and rows_read.get(n, 0) and lost.get(n, 0) / rows_read[n] > max_reject_share
    ]
    if over:
        name = over[0]
        n_read = rows_read[name]
        top = rejects[rejects["table"] == name]["reason"].value_counts().head(3)
        path, where = None, "The rejects are listed on this error's .rejects (no file was written)"
        if rejects_path is not None:
            try:
                path = write_rejects(rejects, rejects_path)
                where = f"The rejects file {path} lists every rejected row"
            except OSError as exc:
                where = f"The rejects file {rejects_path} could not be written ({_safe(exc)})"
        raise RejectShareError(
            f"{name}: {lost[name]} of {n_read} rows rejected "
            f"({lost[name] / n_read:.1%} > max_reject_share {max_reject_share:.0%}); "
            f"main reasons: {'; '.join(f'{k} ({v})' for k, v in top.items())}. "
            f"{where}; fix the export or raise [data] max_reject_share.",
            rejects,
            path,
        )
    result_tables = {n: f.drop(columns="_file_row").reset_index(drop=True) for n, f in clean.items()}
    result = LoadResult(
        tables=Tables(**result_tables),
        rejects=rejects,
        rows_read=rows_read,
        repaired=repaired,
        calendar=_calendar_note(result_tables.get("calendar")),
    )
    log.info("loaded %s", {n: len(f) for n, f in result_tables.items()})
    return result


def _rejected_roster_rows(
    roster: pd.Series | None, parts: list[pd.DataFrame], kept: pd.Index
) -> dict[str, int]:
    """Student id -> the first rejected roster row, for the ids that lost every roster row
    (``roster``: :func:`roster_ids`)."""
    if roster is None:
        return {}
    rows = roster.index.to_numpy()
    bad = [p for p in parts if len(p) and (p["table"] == "students").any()]
    if not bad:
        return {}
    rej = lost_rows(pd.concat(bad, ignore_index=True))
    rej = rej.loc[rej["table"] == "students"]
    pos = roster.index.get_indexer_for(rej["file_row"].to_numpy())
    pos = np.sort(pos[pos >= 0])
    ids = roster.iloc[pos].astype("str").str.strip()
    first = pd.Series(rows[pos], index=ids.to_numpy())
    first = first[~first.index.duplicated(keep="first")]
    first = first[~first.index.isin(kept)]
    return {str(k): int(v) for k, v in first.items()}


def _shown_rows(rejects: pd.DataFrame, label, row_labels) -> pd.DataFrame:
    """Rewrite ``file_row`` to the row a person sees (and add ``sheet`` for workbooks)."""
    if rejects.empty or not row_labels:
        return rejects
    out = rejects.copy()
    with_sheets = any(sh is not None for sh, _ in row_labels.values())
    sheet = np.full(len(out), "", dtype=object)
    rows = out["file_row"].to_numpy(dtype="int64").copy()
    for table in out["table"].unique():
        m = (out["table"] == table).to_numpy()
        sh, shown = label(str(table), rows[m])
        rows[m] = shown
        if sh is not None:
            sheet[m] = sh
    out["file_row"] = rows
    if with_sheets:
        out.insert(1, "sheet", pd.Series(sheet, dtype="str").to_numpy())
    return out


def _calendar_note(calendar: pd.DataFrame | None) -> str:
    """Which school calendar the features use (for the load report)."""
    from features.time import current_default_calendar

    default = current_default_calendar().describe()
    if calendar is None or calendar.empty:
        return f"no calendar table: {default}"
    d = calendar["date"]
    return (
        f"county calendar table ({calendar['school_id'].nunique()} schools, {d.min():%Y-%m-%d} to "
        f"{d.max():%Y-%m-%d}); outside those dates and schools: {default}"
    )


# --- reading a data folder or a database --------------------------------------------------------

_SUFFIXES = (".parquet", ".csv", ".xlsx")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _safe(exc: BaseException) -> str:
    """An exception's message without data: first line, long digit runs masked, kept short."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.sub(r"\d{6,}", "…", text)
    return f"{type(exc).__name__}: {text[:160]}"


def _read_csv(path: Path, *, skiprows: int = 0) -> pd.DataFrame:
    """All columns as text; UTF-8 (with or without BOM), else GBK/GB18030; ``skiprows``
    title rows above the header are skipped."""
    error: BaseException | None = None
    for engine, encoding in (
        ("pyarrow", "utf-8"),
        ("pyarrow", "gb18030"),
        ("c", "utf-8-sig"),
        ("c", "gb18030"),
    ):
        try:
            frame = pd.read_csv(
                path, dtype="str", engine=engine, encoding=encoding, skiprows=skiprows or None
            )
        except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
            # pyarrow's parse errors quote the offending line; report the C parser's instead
            if engine == "c" and (error is None or isinstance(error, UnicodeDecodeError)):
                error = exc
            continue
        if encoding == "gb18030":
            log.info("%s read as GBK", path.name)
        return frame
    assert error is not None
    raise error


@dataclass
class SourceRead:
    """What :func:`read_sources` read: raw frames, where each came from, the XLSX sheets read
    or skipped, and the row a person sees for each frame row (``table -> (sheets, rows)``,
    sheets ``None`` outside workbooks)."""

    frames: dict[str, pd.DataFrame]
    origins: dict[str, str]
    sheets: list[dict] = field(default_factory=list)
    row_labels: dict[str, tuple[np.ndarray | None, np.ndarray]] = field(default_factory=dict)


def _cannot_read(table: str, path: Path, exc: BaseException) -> DataContractError:
    return DataContractError(
        f"{table}: cannot read {path.name} ({_safe(exc)}). Export it again as "
        f"{path.suffix[1:].upper()} with one header row, or use another format (Parquet, CSV, XLSX)."
    )


def _clean_headers(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def _missing_required(table: str, columns, headers: Mapping[str, str]) -> list[str]:
    """Required columns of ``table`` a sheet lacks after the header mapping (a registry number
    or national ID stands for ``student_id``: the loader hashes it into one)."""
    have = {headers.get(str(c).strip(), str(c).strip()) for c in columns}
    if have & {"national_id", "registry_no"}:
        have.add("student_id")
    return [c.name for c in TABLES[table].columns if c.required and c.name not in have]


def _read_workbook(
    table: str,
    path: Path,
    *,
    header_row: int,
    sheets: tuple[str, ...] | None,
    headers: Mapping[str, str],
) -> tuple[pd.DataFrame, list[dict], tuple[np.ndarray, np.ndarray]]:
    """Every sheet of ``path`` whose header holds ``table``'s required columns (or the sheets
    ``[data.sheets]`` names), concatenated; each sheet read or skipped is recorded."""
    try:
        book = pd.read_excel(path, sheet_name=None, dtype="str", engine="openpyxl", header=header_row - 1)
    except Exception as exc:  # noqa: BLE001 - any reader failure is one contract error
        raise _cannot_read(table, path, exc) from None
    book = {str(k): _clean_headers(v) for k, v in book.items()}
    if sheets is not None:
        absent = [n for n in sheets if n not in book]
        if absent:
            raise DataContractError(
                f"{table}: [data.sheets] names sheet(s) {', '.join(map(repr, absent))} that {path.name} "
                f"does not have; its sheets: {', '.join(map(repr, book))}"
            )
    records: list[dict] = []
    chosen: list[str] = []
    for name, frame in book.items():
        if sheets is not None:
            take = name in sheets
            note = "" if take else "not named in [data.sheets]"
        elif not len(frame.columns):
            take, note = False, "empty"
        else:
            lacks = _missing_required(table, frame.columns, headers)
            take = not lacks
            note = "" if take else f"header does not match the table (no {', '.join(lacks)})"
        records.append(
            {"table": table, "file": path.name, "sheet": name, "rows": len(frame), "read": take, "note": note}
        )
        if take:
            chosen.append(name)
    if not chosen:  # nothing matches: the first sheet's missing columns make the error
        first = next(iter(book))
        chosen = [first]
        records[0]["read"], records[0]["note"] = True, "no sheet matches the table; read the first"
    for r in records:
        log.info(
            "%s: %s sheet %r of %s (%d rows)%s",
            table,
            "read" if r["read"] else "skipped",
            r["sheet"],
            r["file"],
            r["rows"],
            f": {r['note']}" if r["note"] else "",
        )
    frames = [book[n] for n in chosen]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    sheet_of = np.concatenate([np.full(len(book[n]), n, dtype=object) for n in chosen])
    shown = np.concatenate([np.arange(len(book[n]), dtype="int64") + header_row + 1 for n in chosen])
    return frame, records, (sheet_of, shown)


def read_file(table: str, path: Path, *, header_row: int = 1) -> pd.DataFrame:
    """One input file of ``table`` (Parquet, CSV in UTF-8 or GBK, or XLSX) as read: CSV and
    XLSX cells as text, headers stripped; unreadable files are a
    :class:`~features.errors.DataContractError` that says how to export them again.

    An XLSX file gives every sheet whose header holds the table's required columns,
    concatenated (:func:`read_sources` reports each sheet and applies the column mappings
    first). ``header_row``: the row holding the header (title rows above it are skipped).
    """
    suffix = path.suffix.lower()
    if suffix == ".xlsx" and table not in TABLES:  # not a contract table: its first sheet
        try:
            frame = pd.read_excel(path, dtype="str", engine="openpyxl", header=header_row - 1)
        except Exception as exc:  # noqa: BLE001 - any reader failure is one contract error
            raise _cannot_read(table, path, exc) from None
        return _clean_headers(frame)
    if suffix == ".xlsx":
        return _read_workbook(table, path, header_row=header_row, sheets=None, headers={})[0]
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _read_csv(path, skiprows=header_row - 1)
    except Exception as exc:  # noqa: BLE001 - any reader failure is one contract error
        raise _cannot_read(table, path, exc) from None
    return _clean_headers(frame)


def read_source(
    source: str | Path, *, sql_schema: str | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Read the raw tables of a data folder or a SQLAlchemy URL, before any mapping.

    Parameters
    ----------
    source : str or Path
        A folder of ``<table>.parquet|.csv|.xlsx`` files (other files are ignored with a
        log line) or a SQLAlchemy URL (``sqlite:///county.db``), one table per name.
    sql_schema : str, optional
        The database schema to read from.

    Returns
    -------
    frames : dict of table name -> DataFrame
        Raw frames with the source's headers; CSV and XLSX columns are text.
    origins : dict of table name -> str
        The file (or ``database table``) each frame came from.
    """
    read = read_sources(source, sql_schema=sql_schema)
    return read.frames, read.origins


def read_sources(
    source: str | Path,
    *,
    sql_schema: str | None = None,
    cfg: DataConfig | None = None,
    mapping=None,
) -> SourceRead:
    """:func:`read_source` with the ``[data]`` reading options of ``cfg``: ``header_row``
    (title rows above the header, XLSX and CSV) and ``[data.sheets]``; XLSX sheets are matched
    to the table after ``mapping``'s header renames (:class:`features.mapping.ColumnMapping`)."""
    cfg = cfg or DataConfig()
    text = str(source)
    if _URL.match(text):
        frames, origins = _read_sql(text, sql_schema)
        return SourceRead(frames, origins)
    out = SourceRead({}, {})
    for table, path in source_files(source).items():
        header_row = cfg.header_row_of(table)
        if path.suffix.lower() == ".xlsx":
            headers = mapping.headers_for(table) if mapping is not None else {}
            frame, records, labels = _read_workbook(
                table, path, header_row=header_row, sheets=cfg.sheets_of(table), headers=headers
            )
            out.sheets.extend(records)
            out.row_labels[table] = labels
        else:
            frame = read_file(table, path, header_row=header_row)
            if header_row != 1 and path.suffix.lower() == ".csv":
                out.row_labels[table] = (None, np.arange(len(frame), dtype="int64") + header_row + 1)
        out.frames[table] = frame
        out.origins[table] = path.name
    return out


def source_files(folder: str | Path) -> dict[str, Path]:
    """The input file of each contract table in a data folder (``<table>.parquet|.csv|.xlsx``;
    other files are ignored with a log line). A missing folder, or two files for one table, is
    a :class:`~features.errors.DataContractError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataContractError(
            f"data folder {folder} does not exist; set [data] source or pass the folder "
            f"(or a SQLAlchemy URL such as sqlite:///county.db)"
        )
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "~$")) or not path.is_file():
            continue
        if path.suffix.lower() in _SUFFIXES and path.stem in TABLES:
            found.setdefault(path.stem, []).append(path)
        else:
            log.info("ignoring %s: not <table>.parquet|.csv|.xlsx of a contract table", path.name)
    for table, paths in found.items():
        if len(paths) > 1:
            raise DataContractError(
                f"{table}: {len(paths)} files ({', '.join(p.name for p in paths)}); keep exactly one per table"
            )
    return {table: paths[0] for table, paths in found.items()}


def is_url(source: str | Path) -> bool:
    """Whether ``source`` is a SQLAlchemy URL rather than a folder."""
    return bool(_URL.match(str(source)))


def _read_sql(url: str, schema: str | None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # noqa: BLE001
        raise DataContractError(f"[data] source is not a usable SQLAlchemy URL ({_safe(exc)})") from None
    shown = engine.url.render_as_string(hide_password=True)
    frames: dict[str, pd.DataFrame] = {}
    origins: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            names = [*insp.get_table_names(schema=schema), *insp.get_view_names(schema=schema)]
            for name in names:
                if name not in TABLES:
                    log.info("ignoring database table %s: not a contract table", name)
                    continue
                frames[name] = pd.read_sql_table(name, conn, schema=schema)
                origins[name] = f"database table {schema + '.' if schema else ''}{name}"
    except sa.exc.SQLAlchemyError as exc:
        raise DataContractError(f"cannot read the database {shown} ({_safe(exc)})") from None
    finally:
        engine.dispose()
    return frames, origins


def load_tables(
    cfg: DataConfig, source: str | Path | None = None, *, rejects_path: str | Path | None = None
) -> LoadResult:
    r"""Read, map, pseudonymise and validate a county's tables.

    The steps: read ``source`` (or ``cfg.source``; see :func:`read_source`); rename headers
    and recode values (built-in ``cfg.mappings``, then ``[data.columns]``/``[data.values]``,
    see :mod:`features.mapping`); hash registry numbers and national IDs and move names to
    ``student_names`` (:mod:`features.identity`); coerce and validate every table.

    Row problems go to ``LoadResult.rejects`` with a reason: values that cannot be read,
    codes outside the contract, nulls and ranges, duplicates (exact copies keep the first;
    rows that share a key but differ are all rejected), ``valid_to`` before ``valid_from``,
    a leave's ``end_date`` before its ``start_date``, a birth month after (or fewer than 4
    years before) the row's ``valid_from``, exam results of unknown exams, with neither
    score nor level (and not absent) or above full marks, leave statuses on dates outside
    their leave, and rows of unknown students. ``file_row`` is the row a spreadsheet shows
    (header = 1); rows of ``student_names`` and of a ``left_behind`` table derived from the
    roster point at the roster's row.

    Impossible values of optional columns become missing (the row stays, the reject line
    says so); exact duplicate copies are repaired (``LoadResult.repaired``), not rejected;
    timestamps with a zone are read in ``cfg.timezone``; XLSX workbooks give every sheet
    whose header matches (``LoadResult.sheets``); ``cfg``'s default-calendar settings become
    the process's default calendar (:func:`features.time.use_default_calendar`).

    Raises
    ------
    DataContractError
        A missing required table or column, an unreadable file (named), or a required
        table losing more than ``cfg.max_reject_share`` of its rows
        (:class:`RejectShareError`: the rejects file, ``rejects_path`` or
        :func:`default_rejects_path`, is written first and the message names it).
    ConfigError
        A mapping names a column the contract does not have, or identifiers need hashing
        and no salt is set.

    Examples
    --------
    >>> import tempfile
    >>> from features.config import DataConfig
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "students.csv").write_text(
    ...     "学籍号,性别,出生年月,年级,学校标识码,生效日期\nx1,男,2012-03,7,s1,2024-09-01\n", "utf-8")
    >>> _ = (d / "attendance.csv").write_text("学籍号,日期,出勤状态\nx1,2024-09-02,旷课\n", "utf-8")
    >>> _ = (d / "exams.csv").write_text("exam_id,school_id,grade,exam_type,exam_date\ne1,s1,7,final,2025-01-10\n")
    >>> _ = (d / "exam_results.csv").write_text("student_id,exam_id,subject,level\nx1,e1,math,B\n")
    >>> _ = (d / "registry_events.csv").write_text("student_id,event_date,event_type\nx1,2024-09-01,enrol\n")
    >>> res = load_tables(DataConfig(mappings=("national_registry",)), d)
    >>> res.tables.attendance["status"].tolist(), res.rejects.empty
    (['unexcused'], True)
    """
    from features.identity import pseudonymize_tables
    from features.mapping import apply_mapping, mapping_from_config, split_derived
    from features.time import DefaultCalendar, use_default_calendar

    check_table_names(cfg)
    use_default_calendar(DefaultCalendar.from_config(cfg))
    source = cfg.source if source is None else source
    mapping = mapping_from_config(cfg.mappings, cfg.columns, cfg.values)
    read = read_sources(source, sql_schema=cfg.sql_schema, cfg=cfg, mapping=mapping)
    raw, origins = read.frames, read.origins
    frames = {name: apply_mapping(name, f.reset_index(drop=True), mapping) for name, f in raw.items()}
    frames = pseudonymize_tables(split_derived(frames), cfg)
    # each frame's index is its position in the file (derived tables keep the roster's)
    file_rows = {name: f.index.to_numpy() + _FIRST_FILE_ROW for name, f in frames.items()}
    labels = dict(read.row_labels)
    if "students" in labels:  # student_names and a left_behind from the roster flag
        for name in frames:
            if name not in raw:
                labels[name] = labels["students"]
    if rejects_path is None:
        rejects_path = default_rejects_path(cfg, source)
    result = tables_from_frames(
        frames,
        max_reject_share=cfg.max_reject_share,
        file_rows=file_rows,
        origins=origins,
        row_labels=labels,
        timezone=cfg.timezone,
        rejects_path=rejects_path,
    )
    return replace(result, sheets=tuple(read.sheets))


def check_table_names(cfg: DataConfig) -> None:
    """``[data.sheets]`` and ``header_row = {table = row}`` name contract tables."""
    import difflib

    from features.errors import ConfigError

    named = [("[data.sheets]", t) for t in cfg.sheets]
    if isinstance(cfg.header_row, dict):
        named += [("[data] header_row", t) for t in cfg.header_row]
    for where, table in named:
        if table not in TABLES:
            near = difflib.get_close_matches(table, TABLES, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; tables: {', '.join(TABLES)}"
            raise ConfigError(f"{where} unknown table {table!r}{hint}")


def default_rejects_path(cfg: DataConfig, source: str | Path | None = None) -> Path:
    """Where a load writes its rejects when no path is given: ``[data] rejects_file``, relative
    to the data folder (the working directory for a database)."""
    path = Path(cfg.rejects_file or "rejects.csv")
    if path.is_absolute():
        return path
    source = cfg.source if source is None else source
    folder = Path(source) if not _URL.match(str(source)) and Path(source).is_dir() else Path(".")
    return folder / path


# --- what was loaded ------------------------------------------------------------------------------


def summarize(result: LoadResult) -> pd.DataFrame:
    """One row per table: rows read, loaded and rejected (by reason), date range, students.

    Returns
    -------
    DataFrame
        Indexed by ``table``, with ``rows_read``, ``rows_loaded``, ``rows_rejected`` (rows
        lost), ``rows_repaired`` (exact duplicate copies dropped),
        ``rejected_by_reason`` (dict reason -> rows), ``date_column``, ``first_date``,
        ``last_date`` (of the table's known-date column; ``exam_results`` use their exam's
        date) and ``students`` (distinct students with a row).

    Examples
    --------
    >>> from features._examples import example_frames
    >>> frames = example_frames(students={"sex": ["M", "X"], "birth_ym": ["2011-03", "2011-05"]})
    >>> row = summarize(tables_from_frames(frames, max_reject_share=1.0)).loc["students"]
    >>> int(row.rows_read), int(row.rows_loaded), int(row.rows_rejected), int(row.students)
    (2, 1, 1, 1)
    >>> row.first_date
    Timestamp('2024-09-01 00:00:00')
    """
    rej = result.rejects.drop_duplicates([*_row_cols(result.rejects), "reason"])
    records = []
    for name in result.tables.present():
        frame: pd.DataFrame = getattr(result.tables, name)
        t = TABLES[name]
        date_col = t.known_date
        dates = frame[date_col] if date_col else None
        if name == "exam_results" and result.tables.exams is not None:
            date_col = "exam_date"
            dates = frame["exam_id"].map(result.tables.exams.set_index("exam_id")["exam_date"])
        mine = rej[rej["table"] == name]
        records.append(
            {
                "table": name,
                "rows_read": result.rows_read.get(name, len(frame)),
                "rows_loaded": len(frame),
                "rows_rejected": len(lost_rows(mine)),
                "rows_repaired": result.repaired.get(name, 0),
                "rejected_by_reason": mine["reason"].value_counts().to_dict(),
                "date_column": date_col,
                "first_date": dates.min() if dates is not None and len(dates) else pd.NaT,
                "last_date": dates.max() if dates is not None and len(dates) else pd.NaT,
                "students": frame["student_id"].nunique() if "student_id" in frame.columns else pd.NA,
            }
        )
    return pd.DataFrame.from_records(records).set_index("table")


def rejects_summary(rejects: pd.DataFrame) -> pd.DataFrame:
    """Counts per ``table, column, reason``: reject lines, distinct rows, first and last row.

    >>> r = pd.DataFrame({"table": ["a", "a", "b"], "file_row": [2, 5, 3], "column": ["x", "x", "y"],
    ...                   "value": ["1", "2", "3"], "reason": ["bad", "bad", "worse"]})
    >>> rejects_summary(r).values.tolist()
    [['a', 'x', 'bad', 2, 2, 2, 5], ['b', 'y', 'worse', 1, 1, 3, 3]]
    """
    cols = ["table", "column", "reason"]
    if rejects.empty:
        return pd.DataFrame(columns=[*cols, "rejects", "rows", "first_row", "last_row"])
    g = rejects.groupby(cols, sort=True, observed=True)["file_row"]
    return g.agg(rejects="size", rows="nunique", first_row="min", last_row="max").reset_index()


def write_rejects(rejects: pd.DataFrame, path: str | Path) -> Path:
    """Write the rejects (``table, [sheet,] file_row, column, value, reason``); returns the path.

    Up to :data:`REJECTS_CSV_MAX_ROWS` rows: a CSV that Excel opens (UTF-8 with a byte-order
    mark, so Excel shows Chinese), sorted by table and row; an empty file with the header
    when nothing was rejected. Beyond that (Excel stops at 1,048,576 rows): the same rows as
    Parquet (``<stem>.parquet``, returned) and a CSV summary next to it
    (``<stem>_summary.csv``: counts per table, column and reason, :func:`rejects_summary`).
    A file of the other format left by an earlier night under the same name is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = (
        [*REJECT_COLUMNS[:1], "sheet", *REJECT_COLUMNS[1:]] if "sheet" in rejects.columns else REJECT_COLUMNS
    )
    sort = ["table", "sheet", "file_row"] if "sheet" in rejects.columns else ["table", "file_row"]
    out = rejects.reindex(columns=cols).sort_values(sort, kind="stable")
    csv_path = path if path.suffix.lower() != ".parquet" else path.with_suffix(".csv")
    parquet_path = csv_path.with_suffix(".parquet")
    summary_path = csv_path.with_name(f"{csv_path.stem}_summary.csv")
    if len(out) > REJECTS_CSV_MAX_ROWS:
        out.reset_index(drop=True).to_parquet(parquet_path, index=False)
        rejects_summary(out).to_csv(summary_path, index=False, encoding="utf-8-sig")
        csv_path.unlink(missing_ok=True)
        log.warning(
            "%d rejects: written as Parquet %s, counts per table/column/reason in %s",
            len(out),
            parquet_path,
            summary_path,
        )
        return parquet_path
    out.to_csv(csv_path, index=False, encoding="utf-8-sig")
    parquet_path.unlink(missing_ok=True)
    summary_path.unlink(missing_ok=True)
    return csv_path

"""Map a county's export onto the data contract: header names and value codes.

A mapping has two parts, written the same way in ``baoxue.toml`` (``[data.columns]``,
``[data.values]``) and in the built-in mapping files of ``features/mappings/``:

- ``columns``: county header -> contract column. A value that is itself a table maps one
  table only: ``columns.students = {"学籍号" = "student_id"}``.
- ``values``: ``"column"`` or ``"table.column"`` -> {county code: contract code}. A
  ``table.column`` entry wins over a ``column`` entry for the same code.

Built-in mappings named in ``[data] mappings`` (a name such as ``"national_registry"``
or a path to a TOML file) are applied first, in order; the config's own ``columns``
and ``values`` are applied last and win.

Besides contract columns, a header may map to the identity columns ``national_id``
(身份证号) and ``registry_no`` (学籍号 when ``student_id`` comes from elsewhere), which
:mod:`features.identity` hashes and drops, to ``name`` (姓名, moved to
``student_names``), and to the derived column ``left_behind.status`` (是否留守儿童, see
:func:`split_derived`).

Examples
--------
>>> import pandas as pd
>>> m = build_mapping(columns={"学籍号": "student_id", "性别": "sex"}, values={"sex": {"男": "M", "女": "F"}})
>>> apply_mapping("students", pd.DataFrame({"学籍号": ["a"], "性别": ["女"]}), m).to_dict("list")
{'student_id': ['a'], 'sex': ['F']}
>>> build_mapping(columns={"性别": "sexe"})
Traceback (most recent call last):
...
features.errors.ConfigError: [data.columns] '性别' maps to 'sexe', which is not a column of any table; did you mean 'sex'?
"""

from __future__ import annotations

import difflib
import logging
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import TABLES
from features.errors import ConfigError

__all__ = [
    "ColumnMapping",
    "IDENTITY_COLUMNS",
    "DERIVED_COLUMNS",
    "build_mapping",
    "read_mapping_file",
    "mapping_from_config",
    "apply_mapping",
    "split_derived",
    "builtin_mappings",
]

log = logging.getLogger(__name__)

#: extra mapping targets that are not contract columns: hashed and dropped by features.identity
IDENTITY_COLUMNS = ("national_id", "registry_no")
#: columns that leave the table they arrive in: students.name -> student_names,
#: students.left_behind.status -> left_behind events
DERIVED_COLUMNS = ("name", "left_behind.status")

#: the mappings shipped with the package (package data, next to this module)
_BUILTIN = Path(__file__).parent / "mappings"

_ALL_COLUMNS = sorted({c for t in TABLES.values() for c in t.names})


@dataclass(frozen=True)
class ColumnMapping:
    """Header and value mappings, checked against the contract.

    ``columns`` maps a county header to a contract column in every table;
    ``table_columns[table]`` does so for one table only (and wins). ``values`` is keyed by
    ``"column"`` or ``"table.column"``; codes are strings (TOML ``true`` becomes ``"true"``).
    """

    columns: dict[str, str] = field(default_factory=dict)
    table_columns: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """This mapping updated by ``other`` (``other`` wins on the same key)."""
        tc = {t: dict(m) for t, m in self.table_columns.items()}
        for t, m in other.table_columns.items():
            tc.setdefault(t, {}).update(m)
        vals = {k: dict(m) for k, m in self.values.items()}
        for k, m in other.values.items():
            vals.setdefault(k, {}).update(m)
        return ColumnMapping({**self.columns, **other.columns}, tc, vals)

    def headers_for(self, table: str) -> dict[str, str]:
        """County header -> contract column for ``table`` (table-specific entries win)."""
        return {**self.columns, **self.table_columns.get(table, {})}

    def values_for(self, table: str, column: str) -> dict[str, str]:
        """County code -> contract code for ``table.column``."""
        return {**self.values.get(column, {}), **self.values.get(f"{table}.{column}", {})}


def _nearest(name: str, known: Iterable[str]) -> str:
    near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else ""


def _code(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _check_target(where: str, header: str, target: str, table: str | None) -> None:
    if target in IDENTITY_COLUMNS or target in DERIVED_COLUMNS:
        return
    if table is None:
        if target not in _ALL_COLUMNS:
            raise ConfigError(
                f"{where} {header!r} maps to {target!r}, which is not a column of any table"
                f"{_nearest(target, [*_ALL_COLUMNS, *IDENTITY_COLUMNS])}"
            )
    elif target not in TABLES[table].names:
        raise ConfigError(
            f"{where} {header!r} maps to {target!r}, which is not a column of table {table!r}"
            f"{_nearest(target, [*TABLES[table].names, *IDENTITY_COLUMNS])}"
        )


def build_mapping(
    columns: Mapping[str, Any] | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    where: str = "[data.columns]",
) -> ColumnMapping:
    """Check a ``columns``/``values`` pair against the contract and build a :class:`ColumnMapping`.

    Parameters
    ----------
    columns : mapping
        County header -> contract column, or table name -> {header: column}.
    values : mapping
        ``"column"`` or ``"table.column"`` -> {county code: contract code}.
    where : str
        Where the mapping comes from, for error messages.

    Raises
    ------
    ConfigError
        A target column, a table or a ``values`` key that the contract does not have;
        the message names the nearest one.
    """
    glob: dict[str, str] = {}
    per: dict[str, dict[str, str]] = {}
    for header, target in (columns or {}).items():
        if isinstance(target, Mapping):
            if header not in TABLES:
                raise ConfigError(
                    f"{where} {header!r} is a table of mappings but not a contract table{_nearest(header, TABLES)}"
                )
            for h, t in target.items():
                if not isinstance(t, str):
                    raise ConfigError(f"{where} {header}.{h} must be a column name, got {t!r}")
                _check_target(where, h, t, header)
                per.setdefault(header, {})[str(h).strip()] = t
        elif isinstance(target, str):
            _check_target(where, header, target, None)
            glob[str(header).strip()] = target
        else:
            raise ConfigError(f"{where} {header!r} must map to a column name, got {target!r}")
    vals: dict[str, dict[str, str]] = {}
    vwhere = where.replace("columns", "values")
    for key, codes in (values or {}).items():
        if not isinstance(codes, Mapping):
            raise ConfigError(f'{vwhere} {key!r} must be a table of codes, e.g. {{"是" = true}}')
        table, _, column = key.rpartition(".") if key not in DERIVED_COLUMNS else ("", "", key)
        if table and table in TABLES:
            if column not in TABLES[table].names:
                raise ConfigError(
                    f"{vwhere} {key!r}: table {table!r} has no column {column!r}"
                    f"{_nearest(column, TABLES[table].names)}"
                )
        elif table and key not in DERIVED_COLUMNS:
            raise ConfigError(f"{vwhere} {key!r}: unknown table {table!r}{_nearest(table, TABLES)}")
        elif column not in _ALL_COLUMNS and column not in DERIVED_COLUMNS:
            raise ConfigError(
                f"{vwhere} {key!r} is not a column of any table{_nearest(column, _ALL_COLUMNS)}"
            )
        vals[key] = {str(k).strip(): _code(v) for k, v in codes.items()}
    return ColumnMapping(glob, per, vals)


def builtin_mappings() -> tuple[str, ...]:
    """Names of the mappings shipped in ``features/mappings/``.

    >>> "national_registry" in builtin_mappings()
    True
    """
    return tuple(sorted(p.stem for p in _BUILTIN.glob("*.toml")))


def read_mapping_file(name_or_path: str | Path) -> ColumnMapping:
    """Read a built-in mapping by name, or a mapping TOML file by path.

    The file has a ``[columns]`` and a ``[values]`` table, written like ``[data.columns]``
    and ``[data.values]`` in ``baoxue.toml``.

    >>> m = read_mapping_file("national_registry")
    >>> m.headers_for("students")["学籍号"]
    'student_id'
    """
    text: str
    label = str(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in builtin_mappings():
        text = (_BUILTIN / f"{name_or_path}.toml").read_text("utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(
                f"[data] mappings: {label!r} is neither a built-in mapping "
                f"({', '.join(builtin_mappings())}) nor an existing TOML file"
                f"{_nearest(label, builtin_mappings())}"
            )
        text = path.read_text("utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping {label!r} is not valid TOML: {exc}") from exc
    extra = set(raw) - {"columns", "values"}
    if extra:
        raise ConfigError(
            f"mapping {label!r}: unknown section(s) {sorted(extra)}; expected [columns] and [values]"
        )
    return build_mapping(raw.get("columns"), raw.get("values"), where=f"mapping {label!r} [columns]")


def mapping_from_config(
    mappings: Iterable[str | Path] = (),
    columns: Mapping[str, Any] | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
) -> ColumnMapping:
    """Built-in/file mappings in order, then the config's own ``columns``/``values`` (which win).

    >>> m = mapping_from_config(["national_registry"], columns={"students": {"编号": "student_id"}})
    >>> m.headers_for("students")["编号"], m.headers_for("students")["全国学籍号"]
    ('student_id', 'student_id')
    """
    out = ColumnMapping()
    for m in mappings:
        out = out.merged(read_mapping_file(m))
    return out.merged(build_mapping(columns, values))


def _map_codes(s: pd.Series, codes: Mapping[str, str]) -> pd.Series:
    """Replace county codes by contract codes, working on the distinct values only.

    Returns a ``category`` column (cheap for millions of rows); codes that are not in
    ``codes`` are kept, stripped; a code mapped to ``""`` becomes missing.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        row_codes, uniques = s.cat.codes.to_numpy(), s.cat.categories
    else:
        row_codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = [codes.get(_code(u).strip(), _code(u).strip()) for u in uniques]
    valid = np.array([m != "" for m in mapped], dtype=bool)
    cats, inverse = np.unique(np.array([m for m in mapped if m != ""], dtype=object), return_inverse=True)
    remap = np.full(len(mapped) + 1, -1, dtype="int64")  # last slot: missing (code -1)
    remap[np.flatnonzero(valid)] = inverse
    new_codes = remap[row_codes]
    return pd.Series(
        pd.Categorical.from_codes(new_codes, categories=pd.Index(cats.astype(str), dtype="str")),
        index=s.index,
        name=s.name,
    )


def apply_mapping(table: str, frame: pd.DataFrame, mapping: ColumnMapping) -> pd.DataFrame:
    """Rename ``frame``'s headers and recode its values for ``table``; returns a new frame.

    Headers are compared after stripping blanks. When two headers map to the same column
    (e.g. both 学籍号 and 全国学籍号), the first is kept and its missing values are filled
    from the next. Headers that map nowhere are kept (the loader ignores extra columns).
    """
    headers = mapping.headers_for(table)
    cols: dict[str, pd.Series] = {}
    for raw in frame.columns:
        h = str(raw).strip().lstrip("\ufeff")
        target = headers.get(h, h)
        s = frame[raw]
        if target in cols:
            log.info("%s: two headers map to %s; filling gaps of the first from the second", table, target)
            first = cols[target].astype("str")
            cols[target] = first.where(first.notna() & (first.str.strip() != ""), s.astype("str"))
        else:
            cols[target] = s
    out = pd.DataFrame(cols, index=frame.index)
    for column in out.columns:
        codes = mapping.values_for(table, column)
        if codes:
            out[column] = _map_codes(out[column], codes)
    return out


def split_derived(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Turn a roster's yes/no left-behind flag (``left_behind.status``) into left_behind events.

    Each students row with a mapped flag becomes one ``left_behind`` event dated at the
    row's ``valid_from`` (the day the roster says it was known), with the flag's mapped
    status (``national_registry``: 是 -> 2, 否 -> 0). A folder that has its own
    ``left_behind`` table keeps it and the flag is dropped (a survey says more than a flag).

    >>> st = pd.DataFrame({"student_id": ["a", "b"], "valid_from": ["2024-09-01"] * 2,
    ...                    "left_behind.status": ["2", None]})
    >>> out = split_derived({"students": st})
    >>> out["left_behind"].to_dict("list")
    {'student_id': ['a'], 'effective_date': ['2024-09-01'], 'status': ['2']}
    >>> "left_behind.status" in out["students"].columns
    False
    """
    out = dict(frames)
    st = out.get("students")
    if st is None or "left_behind.status" not in st.columns:
        return out
    flag = st["left_behind.status"]
    out["students"] = st.drop(columns="left_behind.status")
    if "left_behind" in frames:
        log.info("left_behind table present: the roster's left-behind flag is ignored")
        return out
    if "student_id" not in st.columns or "valid_from" not in st.columns:
        return out
    keep = flag.notna() & (flag.astype("str").str.strip() != "")
    lb = pd.DataFrame(
        {
            "student_id": st["student_id"][keep],
            "effective_date": st["valid_from"][keep],
            "status": flag[keep],
        }
    )
    # keep the file rows of the students table so rejects point at the roster line
    out["left_behind"] = lb
    return out

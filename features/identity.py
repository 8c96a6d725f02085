"""Pseudonymise direct identifiers before anything else sees them.

The registry number 学籍号 is "G" + the 18-digit national ID (身份证号), so it identifies a
child directly. Wherever such a value appears as ``student_id`` (in every table), and in
any ``national_id``/``registry_no`` column, it is replaced by a keyed hash
(HMAC-SHA256 with a secret salt); the raw columns are dropped. "G" + ID and the bare ID
give the same hash, so a table keyed by 身份证号 joins a roster keyed by 学籍号.
Values are compared after Unicode NFKC (full-width digits and letters become ASCII) with
spaces, hyphens, dots and underscores removed, so ``G 5301-02…`` or ``Ｇ５３０１…`` count too.

Every registry number is hashed, whatever its format: once any ``student_id`` of the tables
looks like an identifier, or a ``registry_no``/``national_id`` column is given, the tables are
keyed by registry numbers and *every* ``student_id`` value of every table is hashed (a
truncated, mistyped or temporary number is personal data too, and the same raw value gets the
same hash in each table, so joins hold). Only tables whose ids are all opaque (``s-0042``, a
school's own number: nothing identifier-shaped anywhere) keep them as they are, and need no
salt. A ``name`` column of ``students`` moves to ``student_names``; ``schools``, ``classes`` and
``staff`` keep theirs (the contract's optional names of schools, classes and staff).

The salt must be at least :data:`MIN_SALT_CHARS` characters (a short salt is guessed, and
with it every child's registry number from its hash). The ledger records
:func:`salt_fingerprint` of the salt of each run (never the salt), so a night run with
another salt is refused instead of making every child look new (:mod:`jobs.guard`).

Nothing here logs or raises with a raw value; hashed ids are fine to show.

Examples
--------
>>> import pandas as pd
>>> reg = "G" + "5301" + "02" + "2012" + "0315" + "0042"   # built from pieces, never a literal
>>> frames = {"students": pd.DataFrame({"student_id": [reg, "local-7"], "name": ["王芳", "李雷"]}),
...           "attendance": pd.DataFrame({"national_id": [reg[1:]]})}
>>> out = pseudonymize(frames, salt="a-long-county-secret")
>>> out["students"]["student_id"].tolist()        # local-7 is hashed too: the roster holds registry numbers
['s-ce880be8430816b7', 's-c0d85cd22ef0d49b']
>>> out["attendance"]["student_id"].tolist()     # same child, same hash, no national_id column
['s-ce880be8430816b7']
>>> sorted(out["student_names"].columns), "name" in out["students"].columns
(['name', 'student_id'], False)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import unicodedata
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.config import DataConfig
from features.errors import ConfigError

__all__ = [
    "HASH_PREFIX",
    "MIN_SALT_CHARS",
    "salt_fingerprint",
    "check_salt",
    "looks_like_identifier",
    "keyed_hash",
    "hash_ids",
    "salt_from_config",
    "needs_hashing",
    "pseudonymize",
    "pseudonymize_tables",
]

log = logging.getLogger(__name__)

#: prefix of every hashed id, so a reader can tell a pseudonym from a school's own id
HASH_PREFIX = "s-"
_HEX_CHARS = 16  # 64 bits: no collision to expect among a county's (or a country's) children

#: the shortest salt accepted (a short one is guessed, and with it each child's number)
MIN_SALT_CHARS = 16
_FINGERPRINT_DOMAIN = b"baoxue id-salt fingerprint v1\x00"
_SEPARATORS = str.maketrans("", "", " \t-_.")

# an optional letter (G = registry number, L/J = temporary numbers) and 15-18 digits, the
# last one possibly X: 18-digit IDs, old 15-digit IDs and mistyped ones (one digit short or
# long) all count, since a mistyped ID is still personal data
_ID_SHAPE = r"^[A-Za-z]?\d{14,17}[\dXx]$"
_REGISTRY = r"^G(\d{17}[\dX])$"
_IDENTITY_COLUMNS = ("registry_no", "national_id")
#: tables whose ``name`` column is their own: the students' names table, and the optional
#: names of schools, classes and staff (staff are adults; their names are shown to staff, never
#: features). A ``name`` anywhere else is a child's and is dropped.
_NAMED_TABLES = ("student_names", "schools", "classes", "staff")


def looks_like_identifier(values: pd.Series) -> np.ndarray:
    """Which values have the shape of a registry number or a national ID.

    >>> looks_like_identifier(pd.Series(["G" + "1" * 17 + "X", "1" * 18, "s-0042", None])).tolist()
    [True, True, False, False]
    """
    text = values.astype("str").map(_compact, na_action="ignore")
    return text.str.fullmatch(_ID_SHAPE, flags=re.ASCII).fillna(False).to_numpy(dtype=bool)


def _compact(v: str) -> str:
    """NFKC (full-width to ASCII), separators removed: ``Ｇ 5301-02`` -> ``G530102``."""
    return unicodedata.normalize("NFKC", str(v)).translate(_SEPARATORS).strip()


def _normalise(v: str) -> str:
    v = _compact(v).upper()
    if len(v) == 19 and v[0] == "G" and v[1:18].isdigit():
        return v[1:]
    return v


def salt_fingerprint(salt: str | None) -> str | None:
    """The ledger's record of which salt a run used: 16 hex digits of SHA-256 over a fixed
    domain prefix and the salt (never the salt itself; None when there is no salt).

    >>> salt_fingerprint("a-long-county-secret")
    'f4f5b256d7f46dc6'
    >>> salt_fingerprint("") is None
    True
    """
    if not salt:
        return None
    return hashlib.sha256(_FINGERPRINT_DOMAIN + salt.encode("utf-8")).hexdigest()[:16]


def check_salt(salt: str | None, *, salt_env: str = "BAOXUE_ID_SALT") -> None:
    """Refuse a salt shorter than :data:`MIN_SALT_CHARS` characters (``ConfigError``; no salt passes).

    >>> check_salt("short")
    Traceback (most recent call last):
    ...
    features.errors.ConfigError: the id salt ([data] id_salt or BAOXUE_ID_SALT) has 5 characters; use at least 16 (a long random secret, e.g. `python -c "import secrets; print(secrets.token_urlsafe(24))"`), and change it only with `baoxue db rehash`
    """
    if salt and len(salt) < MIN_SALT_CHARS:
        raise ConfigError(
            f"the id salt ([data] id_salt or {salt_env}) has {len(salt)} characters; use at least "
            f"{MIN_SALT_CHARS} (a long random secret, e.g. "
            '`python -c "import secrets; print(secrets.token_urlsafe(24))"`), and change it only with '
            "`baoxue db rehash`"
        )


def keyed_hash(values: list[str], salt: str) -> list[str]:
    """HMAC-SHA256 of each identifier (normalised: stripped, upper case, "G" prefix removed).

    >>> keyed_hash(["G" + "1" * 18], "k") == keyed_hash(["1" * 18], "k") != keyed_hash(["1" * 18], "other")
    True
    """
    key = salt.encode("utf-8")
    return [
        HASH_PREFIX + hmac.new(key, _normalise(v).encode("utf-8"), hashlib.sha256).hexdigest()[:_HEX_CHARS]
        for v in values
    ]


def _salt_error(where: str, salt_env: str) -> ConfigError:
    return ConfigError(
        f"{where} hold registry numbers (学籍号) or national IDs, which baoxue replaces by a "
        f"keyed hash, but no salt is set. Set [data] id_salt in baoxue.toml or the environment "
        f"variable {salt_env} to a long random secret, and keep it: the same salt gives the same "
        f"student_id in every run."
    )


def hash_ids(
    values: pd.Series,
    salt: str | None,
    *,
    where: str = "ids",
    salt_env: str = "BAOXUE_ID_SALT",
    every: bool = False,
) -> pd.Series:
    """Replace the identifier-shaped values of ``values`` (``every``: all non-empty values)
    by their keyed hash.

    Works on the distinct values (a ``category`` column of 18M attendance rows hashes its
    ~100k categories once). Returns a ``category`` column; other values are kept.

    Raises
    ------
    ConfigError
        Some value needs hashing and ``salt`` is empty or too short (:func:`check_salt`).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), pd.Series(values.cat.categories)
    else:
        codes, uniq = pd.factorize(values, use_na_sentinel=True)
        uniques = pd.Series(uniq)
    text = uniques.astype("str").str.strip()
    if every:
        is_id = (text.map(_compact, na_action="ignore") != "").fillna(False).to_numpy(dtype=bool)
    else:
        is_id = looks_like_identifier(text) if len(text) else np.zeros(0, bool)
    new = text.to_numpy(dtype=object).copy()
    if is_id.any():
        if not salt:
            raise _salt_error(where, salt_env)
        check_salt(salt, salt_env=salt_env)
        new[is_id] = keyed_hash(list(new[is_id]), salt)
    cats, inverse = np.unique(new.astype(str), return_inverse=True) if len(new) else (np.array([], str), [])
    remap = np.append(np.asarray(inverse, dtype="int64"), -1)
    return pd.Series(
        pd.Categorical.from_codes(remap[codes], categories=pd.Index(cats, dtype="str")),
        index=values.index,
        name=values.name,
    )


def salt_from_config(cfg: DataConfig) -> str | None:
    """``[data] id_salt``, else the environment variable named by ``[data] id_salt_env``; None if neither."""
    return cfg.id_salt or os.environ.get(cfg.id_salt_env) or None


def _needs_hash(frame: pd.DataFrame) -> bool:
    if any(c in frame.columns for c in _IDENTITY_COLUMNS):
        return True
    if "student_id" not in frame.columns:
        return False
    s = frame["student_id"]
    uniq = s.cat.categories.to_series() if isinstance(s.dtype, pd.CategoricalDtype) else pd.Series(s.unique())
    return bool(looks_like_identifier(uniq.dropna()).any())


def needs_hashing(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    """The tables whose ids make :func:`pseudonymize` hash every ``student_id``: a
    ``registry_no``/``national_id`` column, or an identifier-shaped ``student_id``."""
    return [name for name, f in frames.items() if _needs_hash(f)]


def pseudonymize(
    frames: Mapping[str, pd.DataFrame],
    salt: str | None,
    *,
    salt_env: str = "BAOXUE_ID_SALT",
    hash_all: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """Hash identifiers in ``student_id`` and identity columns of every table; split off names.

    Parameters
    ----------
    frames : mapping of table name -> DataFrame
        Frames with contract headers (after :func:`features.mapping.apply_mapping`);
        ``registry_no``/``national_id`` columns fill ``student_id`` where it is missing.
    salt : str or None
        Secret key of the hash, at least :data:`MIN_SALT_CHARS` characters; needed only when
        some value looks like an identifier (then every ``student_id`` value is hashed).
    salt_env : str
        Name of the environment variable quoted in the error message.
    hash_all : bool, optional
        Whether every ``student_id`` is hashed, decided by the caller over more rows than
        ``frames`` hold (the validated store pseudonymises a night's new rows with the
        decision taken over the whole tables, :func:`needs_hashing`); default: decided here.

    Returns
    -------
    dict of table name -> DataFrame
        New frames (inputs are not changed): identity columns dropped, ``name`` moved from
        ``students`` to ``student_names`` (kept there when that table is given), kept in
        ``schools``, ``classes`` and ``staff`` and dropped from every other table. Row index labels are kept (they carry the file row).
    """
    need = needs_hashing(frames) if hash_all is None else []
    hashed = bool(need) if hash_all is None else hash_all
    if hashed and not salt:
        raise _salt_error(f"student_id/national_id columns of {', '.join(need) or 'the tables'}", salt_env)
    if hashed:
        check_salt(salt, salt_env=salt_env)
    out: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        f = frame.copy(deep=False)  # columns are replaced, never changed in place
        ident = [c for c in _IDENTITY_COLUMNS if c in f.columns]
        if ident:
            sid = (
                f["student_id"].astype("str")
                if "student_id" in f.columns
                else pd.Series(np.nan, index=f.index, dtype="str")
            )
            for c in ident:
                fill = f[c].astype("str")
                sid = sid.where(sid.notna() & (sid.str.strip() != ""), fill)
            f["student_id"] = sid
            f = f.drop(columns=ident)
        if "student_id" in f.columns:
            f["student_id"] = hash_ids(
                f["student_id"], salt, where=f"{name}.student_id", salt_env=salt_env, every=hashed
            )
        if "name" in f.columns and name not in _NAMED_TABLES:
            if name == "students" and "student_names" not in frames and "student_id" in f.columns:
                names = f.loc[f["name"].notna(), ["student_id", "name"]].copy()
                names["student_id"] = names["student_id"].astype("str")
                out["student_names"] = names.drop_duplicates("student_id", keep="last")
            f = f.drop(columns="name")
        out[name] = f
    if hashed:
        log.info("hashed identifiers in %d table(s)", len(need))
    return {n: out[n] for n in (*frames, *(k for k in out if k not in frames))}


def pseudonymize_tables(frames: Mapping[str, pd.DataFrame], cfg: DataConfig) -> dict[str, pd.DataFrame]:
    """:func:`pseudonymize` with the salt of ``cfg`` (``[data] id_salt`` or its environment variable)."""
    return pseudonymize(frames, salt_from_config(cfg), salt_env=cfg.id_salt_env)

"""Column-level standardisation shared by the silver jobs.

The rules themselves live once, in plain Python (:mod:`gridrisk.ids`, :mod:`gridrisk.privacy`);
these are vectorised (Arrow) wrappers so Spark applies exactly the same logic.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf

from gridrisk import ids, privacy

# Types as objects, not DDL strings: parsing DDL needs a live SparkContext, which a Python
# worker importing this module does not have.
ID_STRUCT = T.StructType([
    T.StructField("id_norm", T.StringType()),
    T.StructField("id_status", T.StringType()),
    T.StructField("id_birth_date", T.DateType()),
])


@pandas_udf(ID_STRUCT)  # type: ignore[call-overload]
def _normalise_ids(raw: pd.Series) -> pd.DataFrame:
    values, statuses, births = [], [], []
    for item in raw:
        norm = ids.normalise_id(None if item is None or (isinstance(item, float) and pd.isna(item)) else item)
        values.append(norm.value)
        statuses.append(norm.status)
        births.append(_birth_date_hint(norm, item))
    return pd.DataFrame({"id_norm": values, "id_status": statuses, "id_birth_date": births})


def _birth_date_hint(norm: ids.NormalisedId, raw: object) -> dt.date | None:
    """Birth date from a usable ID — or from a damaged one whose date segment survived."""
    if norm.value:
        return ids.birth_date(norm.value)
    text = ids.clean(raw if isinstance(raw, str) else None)
    if len(text) == 18 and text[:17].isdigit():
        try:
            return ids.birth_date(text)
        except ValueError:
            return None
    return None


def normalise_id(col: str | Column) -> Column:
    """``struct(id_norm, id_status, id_birth_date)`` for an ID column as delivered."""
    return _normalise_ids(F.col(col) if isinstance(col, str) else col)


def person_key(id_norm: str | Column, key: bytes) -> Column:
    """Keyed hash of the normalised ID (null when there is no usable ID)."""

    @pandas_udf(T.StringType())  # type: ignore[call-overload]
    def _keys(values: pd.Series) -> pd.Series:
        return values.map(lambda v: privacy.person_key(v, key) if isinstance(v, str) else None)

    return _keys(F.col(id_norm) if isinstance(id_norm, str) else id_norm)


@pandas_udf(T.StringType())  # type: ignore[call-overload]
def _mask_names(values: pd.Series) -> pd.Series:
    return values.map(lambda v: privacy.mask_name(v) if isinstance(v, str) else None)


def mask_name(col: str | Column) -> Column:
    return _mask_names(F.col(col) if isinstance(col, str) else col)


def age_on(birth: str | Column, ds: str) -> Column:
    """Whole years of age on the logical date."""
    b = F.col(birth) if isinstance(birth, str) else birth
    return F.floor(F.months_between(F.lit(ds).cast("date"), b) / 12).cast("int")

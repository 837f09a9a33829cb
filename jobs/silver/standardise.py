"""Column-level standardisation for the silver jobs: the library's rules, natively in Spark.

The rules live once, in plain Python (:mod:`gridrisk.ids`, :mod:`gridrisk.privacy`), and once
as Spark column expressions (:mod:`gridrisk.columns`). This module only keeps the ID struct in
the shape ``gridrisk.quality`` reads (``id_norm``, ``id_status``, ``id_birth_date``) until that
module imports :mod:`gridrisk.columns` itself.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame

from gridrisk.columns import with_id_reading

__all__ = ["with_normalised_id"]


def with_normalised_id(df: DataFrame, col: str | Column, out: str) -> DataFrame:
    """``df`` + ``out``: ``struct(id_norm, id_status, id_birth_date)`` of an ID column, from
    :func:`gridrisk.columns.with_id_reading`.

    ``id_birth_date`` is the birth date the ID establishes (``gridrisk.ids``' table): none for a
    typo'd ID, whose date segment may hold the typo.
    """
    return with_id_reading(df, col, out, {"id18": "id_norm", "status": "id_status", "birth_date": "id_birth_date"})

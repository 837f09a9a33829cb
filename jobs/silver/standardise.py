"""Column-level standardisation for the silver jobs: the library's rules, natively in Spark.

The rules live once, in plain Python (:mod:`gridrisk.ids`, :mod:`gridrisk.privacy`), and once
as Spark column expressions (:mod:`gridrisk.columns`). This module only keeps the ID struct in
the shape ``gridrisk.quality`` reads (``id_norm``, ``id_status``, ``id_birth_date``) until that
module imports :mod:`gridrisk.columns` itself.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from gridrisk.columns import age_on, mask_name, person_key, read_id

__all__ = ["age_on", "mask_name", "normalise_id", "person_key"]


def normalise_id(col: str | Column) -> Column:
    """``struct(id_norm, id_status, id_birth_date)`` of an ID column, from :func:`gridrisk.columns.read_id`.

    ``id_birth_date`` is the birth date the ID establishes (``gridrisk.ids``' table): none for a
    typo'd ID, whose date segment may hold the typo.
    """
    reading = read_id(col)
    return F.struct(reading["id18"].alias("id_norm"), reading["status"].alias("id_status"),
                    reading["birth_date"].alias("id_birth_date"))

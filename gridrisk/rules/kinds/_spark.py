"""``F`` for the kinds' Spark code, imported on first use: declaring and validating rules needs
the kinds' class attributes only, so ``gridrisk.rules`` loads without pyspark installed (the
task-store and API install), while type checkers see the real ``pyspark.sql.functions``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import functions as F
else:

    class _Functions:
        def __getattr__(self, name: str) -> Any:
            from pyspark.sql import functions

            return getattr(functions, name)

    F = _Functions()

__all__ = ["F"]

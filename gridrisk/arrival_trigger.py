"""The Airflow trigger that waits for a delivery's manifest in the triggerer, not in a worker slot.

It fires once: ``{"status": "arrived", "manifest": uri}`` when the manifest appears, or
``{"status": "late", "cutoff": iso}`` when the cut-off passes first. The DAG's sensor
(``dags/gridrisk_common.py``) defers to it; Airflow imports it by its class path in the triggerer
(and inline in ``dag.test()``), so it lives in the installed package, not in the DAGs folder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class ManifestTrigger(BaseTrigger):
    """Poll ``manifest`` every ``poke_seconds`` (local path or object-store URI) until ``cutoff``."""

    def __init__(self, manifest: str, cutoff: str, poke_seconds: float = 300.0, since: str | None = None) -> None:
        super().__init__()
        self.manifest = manifest
        self.cutoff = cutoff
        self.poke_seconds = poke_seconds
        self.since = since  # when the sensor began to wait: handed back in the event

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"manifest": self.manifest, "cutoff": self.cutoff, "poke_seconds": self.poke_seconds,
                 "since": self.since})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from gridrisk.arrival import arrived

        cutoff = dt.datetime.fromisoformat(self.cutoff)
        while True:
            # pyarrow's file systems block: keep the triggerer's event loop free while one looks.
            if await asyncio.to_thread(arrived, self.manifest):
                yield TriggerEvent({"status": "arrived", "manifest": self.manifest, "since": self.since})
                return
            left = (cutoff - dt.datetime.now(dt.UTC)).total_seconds()
            if left <= 0:
                yield TriggerEvent({"status": "late", "manifest": self.manifest, "cutoff": self.cutoff, "since": self.since})
                return
            await asyncio.sleep(min(self.poke_seconds, left))

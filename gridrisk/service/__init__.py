"""The grid centres' task service: an Open311 GeoReport v2 API over the task store, per-unit
tokens and roles, SLA escalation, webhook delivery of task events and a small web page.

    gridrisk serve                      # uvicorn on conf/service.yaml's host:port
    gridrisk tokens issue <actor>       # a unit's credentials

Nothing here imports pyspark: a task-store or API user never needs Spark. See docs/service.md.
"""

from __future__ import annotations

from gridrisk.service.config import ServiceConfig, Subscriber, load_service_config

__all__ = ["ServiceConfig", "Subscriber", "load_service_config"]

"""``conf/service.yaml`` as a typed object; every problem of the file is reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SERVICE_PATH = Path(__file__).resolve().parents[2] / "conf" / "service.yaml"


@dataclass(frozen=True)
class Subscriber:
    """A centre's own system that receives the task events of ``unit``'s subtree."""

    name: str
    unit: str
    url: str
    secret_env: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8311
    max_body_bytes: int = 65536
    max_text_chars: int = 2000
    page_size: int = 50
    max_page_size: int = 500
    token_days: int = 90
    pool_size: int = 8
    escalation_every_s: float = 600
    delivery_every_s: float = 5
    delivery_timeout_s: float = 10
    backoff_base_s: float = 2
    backoff_cap_s: float = 600
    dead_after_hours: float = 72
    delivery_batch: int = 100
    subscribers: tuple[Subscriber, ...] = field(default_factory=tuple)


def service_config_from_dict(conf: dict[str, Any], source: str = "service config") -> ServiceConfig:
    problems: list[str] = []

    def number(value: Any, name: str, minimum: float = 0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            problems.append(f"{name}: expected a number ≥ {minimum}, got {value!r}")
            return minimum
        return float(value)

    base = ServiceConfig()
    sched = conf.get("scheduler") or {}
    delivery = conf.get("delivery") or {}
    subscribers = []
    for i, sub in enumerate(delivery.get("subscribers") or []):
        if not isinstance(sub, dict) or not all(isinstance(sub.get(k), str) for k in ("name", "unit", "url")):
            problems.append(f"delivery.subscribers[{i}]: needs name, unit and url (strings)")
            continue
        if not (sub["unit"].isdigit() and len(sub["unit"]) in (2, 4, 6, 9, 12, 15)):
            problems.append(f"delivery.subscribers[{i}].unit: {sub['unit']!r} is not a division code")
        if not sub["url"].startswith(("http://", "https://")):
            problems.append(f"delivery.subscribers[{i}].url: must be http(s)://")
        subscribers.append(Subscriber(sub["name"], sub["unit"], sub["url"], sub.get("secret_env")))
    if len({s.name for s in subscribers}) != len(subscribers):
        problems.append("delivery.subscribers: names must be unique")
    config = ServiceConfig(
        host=str(conf.get("host", base.host)),
        port=int(number(conf.get("port", base.port), "port", 1)),
        max_body_bytes=int(number(conf.get("max_body_bytes", base.max_body_bytes), "max_body_bytes", 1024)),
        max_text_chars=int(number(conf.get("max_text_chars", base.max_text_chars), "max_text_chars", 10)),
        page_size=int(number(conf.get("page_size", base.page_size), "page_size", 1)),
        max_page_size=int(number(conf.get("max_page_size", base.max_page_size), "max_page_size", 1)),
        token_days=int(number(conf.get("token_days", base.token_days), "token_days", 1)),
        pool_size=int(number(conf.get("pool_size", base.pool_size), "pool_size", 0)),
        escalation_every_s=number(sched.get("escalation_every_s", base.escalation_every_s),
                                  "scheduler.escalation_every_s"),
        delivery_every_s=number(sched.get("delivery_every_s", base.delivery_every_s),
                                "scheduler.delivery_every_s"),
        delivery_timeout_s=number(delivery.get("timeout_s", base.delivery_timeout_s), "delivery.timeout_s", 0.1),
        backoff_base_s=number(delivery.get("backoff_base_s", base.backoff_base_s), "delivery.backoff_base_s", 0.01),
        backoff_cap_s=number(delivery.get("backoff_cap_s", base.backoff_cap_s), "delivery.backoff_cap_s", 0.01),
        dead_after_hours=number(delivery.get("dead_after_hours", base.dead_after_hours),
                                "delivery.dead_after_hours", 0.0001),
        delivery_batch=int(number(delivery.get("batch", base.delivery_batch), "delivery.batch", 1)),
        subscribers=tuple(subscribers),
    )
    if problems:
        raise ValueError(f"{source}:\n- " + "\n- ".join(problems))
    return config


def load_service_config(path: str | Path | None = None) -> ServiceConfig:
    path = Path(path) if path is not None else DEFAULT_SERVICE_PATH
    with path.open(encoding="utf-8") as fh:
        return service_config_from_dict(yaml.safe_load(fh) or {}, source=str(path))

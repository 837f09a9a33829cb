"""Delivery of task events to the centres' own systems (the transactional outbox's reader).

Every event is written to the ``outbox`` table in the same transaction as the event itself,
so nothing is lost when the service dies between the two. ``deliver_once`` gives each
subscriber a pending delivery for every event of its unit's subtree it has not had yet, then
POSTs the due ones **in event order** with the event key as ``Idempotency-Key``. A 2xx marks
the delivery done; a network error, 408, 429 or 5xx is retried with exponential backoff;
another 4xx, or a delivery still failing ``dead_after_hours`` after it was queued, goes to the
dead-letter list with the last error. Delivery status lives apart from task status.

Delivery is at least once (a crash after the POST and before the mark sends it again); the
idempotency key lets the receiver count each event once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass

import httpx

from gridrisk.service.config import ServiceConfig, Subscriber
from gridrisk.taskstore import SqlTaskStore
from gridrisk.taskstore.model import to_second

log = logging.getLogger(__name__)
RETRYABLE = frozenset({408, 425, 429})


@dataclass
class DeliveryRound:
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def backoff_s(attempts: int, config: ServiceConfig) -> float:
    """Seconds to wait after the ``attempts``-th failure: base · 2^(n-1), capped."""
    return float(min(config.backoff_cap_s, config.backoff_base_s * 2 ** max(0, attempts - 1)))


def _signature(body: bytes, subscriber: Subscriber) -> dict[str, str]:
    secret = os.environ.get(subscriber.secret_env) if subscriber.secret_env else None
    if not secret:
        return {}
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Gridrisk-Signature": f"sha256={digest}"}


def deliver_once(store: SqlTaskStore, config: ServiceConfig, client: httpx.Client,
                 now: _dt.datetime | None = None) -> dict[str, DeliveryRound]:
    """One round for every subscriber; returns what happened per subscriber."""
    def clock() -> _dt.datetime:
        return to_second(now or _dt.datetime.now(_dt.UTC))

    rounds: dict[str, DeliveryRound] = {}
    for sub in config.subscribers:
        at = clock()
        store.enqueue_deliveries(sub.name, sub.unit, at)
        outcome = rounds[sub.name] = DeliveryRound()
        for event_key, payload, attempts, enqueued in store.due_deliveries(sub.name, at,
                                                                          config.delivery_batch):
            body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
            headers = {"Content-Type": "application/json", "Idempotency-Key": event_key,
                       "X-Gridrisk-Event": event_key, **_signature(body, sub)}
            error: str | None = None
            permanent = False
            try:
                response = client.post(sub.url, content=body, headers=headers,
                                       timeout=config.delivery_timeout_s)
                if 200 <= response.status_code < 300:
                    store.mark_delivery(sub.name, event_key, clock(), delivered=True)
                    outcome.delivered += 1
                    continue
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                permanent = 400 <= response.status_code < 500 and response.status_code not in RETRYABLE
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"[:300]
            failed_at = clock()
            expired = failed_at - enqueued > _dt.timedelta(hours=config.dead_after_hours)
            if permanent or expired:
                store.mark_delivery(sub.name, event_key, failed_at, delivered=False, error=error)
                outcome.dead += 1
                log.warning("delivery %s to %s is dead: %s", event_key, sub.name, error)
                continue
            retry_at = failed_at + _dt.timedelta(seconds=backoff_s(attempts + 1, config))
            store.mark_delivery(sub.name, event_key, failed_at, delivered=False, error=error,
                                retry_at=retry_at)
            outcome.retried += 1
            log.info("delivery %s to %s failed (%s); retry at %s", event_key, sub.name, error,
                     retry_at.isoformat())
            break  # keep the order: later events wait until this one gets through
    return rounds

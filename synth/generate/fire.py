"""Fire-networked units and the monitoring centre's event timeline.

One timeline of events is drawn for the whole run (from two days before the first date to the
last). The ``fire_events`` delivery of date D holds every event that happened on D or was
still active during D, in its state at the end of D (恢复时间 empty if not cleared by then):
a device that has been in fault since yesterday is in today's file again. The latest delivery
of an 事件编号 carries its latest state.

Truth is evaluated at the end of D (D+1 00:00:00): a fault/isolation/transmission-offline event
still open then and older than 24 h / 72 h / 24 h; three or more confirmed-false fire alarms of
one device within 24 h, the last of them on D; a unit whose last annual inspection is more than
365 days before D. (The numbers are the params of conf/rules/fire.yaml, which
the truth and the planted cases read: :func:`.thresholds.params`.) Ambient events never come near those thresholds; each planted one sits well
beyond (positives) or exactly at / just short of them (near misses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geo import Province, stream
from .noise import punctuate
from .output import DateTable, quote
from .thresholds import params

CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fire.fault_open": (("open_over_24h",), ("open_24h_exactly", "cleared_after_24h")),
    "fire.false_alarms": (("three_in_6h", "five_in_day"), ("two_false", "one_is_test", "three_devices")),
    "fire.isolation_long": (("isolated_over_72h",), ("isolated_72h_exactly", "cleared_after_72h")),
    "fire.offline": (("offline_over_24h",), ("offline_24h_exactly", "cleared_after_24h")),
    "fire.inspection_overdue": (("over_365_days",), ("365_days_exactly",)),
}
EVENT_TYPES = ("火警", "故障", "屏蔽", "监管", "手动状态", "主电故障", "备电故障", "通信中断", "复位")
E_ALARM, E_FAULT, E_ISOLATE, E_SUPERVISE, E_MANUAL, E_MAINS, E_BATTERY, E_OFFLINE, E_RESET = range(9)
CONFIRM = ("", "真实火警", "误报", "测试")
C_NONE, C_REAL, C_FALSE, C_TEST = range(4)
CATEGORIES = ("人员密集场所", "危化品企业", "高层建筑", "重点单位", "一般单位")
H = 3600
OPEN = np.iinfo(np.int64).max  # cleared time of an event never cleared within the timeline
#: The rules of an event still open at the end of the day (threshold: ``open_more_than_h``).
LONG_EVENTS = (("fire.fault_open", E_FAULT), ("fire.isolation_long", E_ISOLATE), ("fire.offline", E_OFFLINE))


@dataclass
class FireUnit:
    unit_id: str
    name: str
    address: str
    category: str
    last_inspection: int  # day number
    planted_device: int = 0  # counter for planted device ids (L09-001, …)


class FireWorld:
    """Units, the event timeline and the truth of the fire rules."""

    def __init__(self, seed: int, province: Province, n_units: int, start: int, days: int,
                 planted: dict[str, tuple[int, int]], enterprise_units: list[tuple[int, str]]) -> None:
        self.seed, self.prov, self.start, self.days = seed, province, start, days
        rng = stream(seed, "fire-units")
        self.units: list[FireUnit] = []
        prov = province
        for site, name in enterprise_units:
            sa = prov.special[site]
            self.units.append(FireUnit("", name, sa.code, "危化品企业", 0))
        kind_of = {"学校": "人员密集场所", "医院": "人员密集场所", "商业": "人员密集场所", "住宅": "高层建筑",
                   "其他": "重点单位", "工业": "一般单位"}
        for a in prov.fire_unit_addresses[: max(0, n_units - len(self.units))]:
            sa = prov.special[a]
            self.units.append(FireUnit("", sa.name, sa.code, kind_of[sa.kind], 0))
        for i, u in enumerate(self.units):
            u.unit_id = f"XF{u.address[:6]}{i + 1:05d}"
            u.last_inspection = start - int(rng.integers(10, 330))
        # Inspection cases: distinct units, fixed for the run.
        pos, nm = planted["fire.inspection_overdue"]
        picks = rng.choice(len(self.units), size=min(len(self.units), pos + nm), replace=False).tolist()
        overdue = int(params("fire.inspection_overdue")["more_than_days"])
        for j, u in enumerate(picks):  # positives a day or more past the limit, near misses exactly on it
            self.units[u].last_inspection = start - (int(rng.integers(overdue + 1, 700)) if j < pos else overdue)
        self._timeline(planted)

    # -- the timeline -----------------------------------------------------------------------------
    def _timeline(self, planted: dict[str, tuple[int, int]]) -> None:
        rng = stream(self.seed, "fire-events")
        rows: list[tuple[int, int, str, int, int, int]] = []  # unit, type, device, ts, confirm, cleared
        first_day = self.start - 2
        n_u = len(self.units)
        for day in range(first_day, self.start + self.days):
            t0 = day * 86400
            for u in range(n_u):
                # Faults, power faults, supervisory, manual mode, isolation: all end < 24 h.
                for etype, rate, dev, lo, hi in ((E_FAULT, 0.3, "L", 0.5, 20), (E_MAINS, 0.05, "PW01", 0.2, 10),
                                                 (E_BATTERY, 0.1, "PW01", 0.2, 10), (E_SUPERVISE, 0.1, "L", 0.1, 4),
                                                 (E_MANUAL, 0.05, "ZK01", 0.2, 6), (E_ISOLATE, 0.1, "L", 1, 30),
                                                 (E_OFFLINE, 0.05, "TX01", 0.1, 6)):
                    for _ in range(int(rng.poisson(rate))):
                        ts = t0 + int(rng.integers(0, 86400))
                        device = self._ambient_device(rng) if dev == "L" else dev
                        rows.append((u, etype, device, ts, C_NONE, ts + int(rng.uniform(lo, hi) * H)))
                # Fire alarms: at most one a day per device, daytime, mostly false.
                n_alarm = int(rng.poisson(0.25))
                devices = {self._ambient_device(rng) for _ in range(n_alarm)}
                for device in sorted(devices):
                    ts = t0 + int(rng.integers(8 * H, 20 * H))
                    confirm = int(rng.choice([C_FALSE, C_TEST, C_REAL], p=[0.85, 0.13, 0.02]))
                    cleared = ts + int(rng.integers(60, 1200))
                    rows.append((u, E_ALARM, device, ts, confirm, cleared))
                    if rng.random() < 0.5:
                        rows.append((u, E_RESET, "ZK01", cleared, C_NONE, cleared))
        for day in range(self.start, self.start + self.days):
            rows += self._planted(day, planted, rng)
        rows.sort(key=lambda r: (r[3], r[0], r[2], r[1]))
        self.ev_unit = np.array([r[0] for r in rows], np.int64)
        self.ev_type = np.array([r[1] for r in rows], np.int8)
        self.ev_device = np.array([r[2] for r in rows], dtype=object)
        self.ev_ts = np.array([r[3] for r in rows], np.int64)
        self.ev_confirm = np.array([r[4] for r in rows], np.int8)
        self.ev_cleared = np.array([r[5] for r in rows], np.int64)
        stamps = DateTable.compact(self.ev_ts // 86400)
        self.ev_id = np.array([f"XFSJ{d}{i:08d}" for d, i in zip(stamps, range(len(rows)), strict=True)], dtype=object)

    @staticmethod
    def _ambient_device(rng: np.random.Generator) -> str:
        return f"L{int(rng.integers(1, 5)):02d}-{int(rng.integers(1, 201)):03d}"

    def _new_device(self, u: int, prefix: str = "L09") -> str:
        unit = self.units[u]
        unit.planted_device += 1
        n = unit.planted_device
        return f"TX{n + 1:02d}" if prefix == "TX" else f"L{9 + (n - 1) // 999:02d}-{(n - 1) % 999 + 1:03d}"

    def _planted(self, day: int, planted: dict[str, tuple[int, int]], rng: np.random.Generator) -> list:
        """Events planted for the evaluation at the end of ``day``."""
        rows = []
        end = (day + 1) * 86400  # the evaluation instant
        start = day * 86400
        n_u = len(self.units)

        def unit() -> int:
            return int(rng.integers(0, n_u))

        def long_event(etype: int, counts: tuple[int, int], threshold_h: int) -> None:
            """Events that cross ``threshold_h`` on this day and not before.

            Positives open 2–20 h past the threshold at the evaluation instant (so under it a day
            earlier); near misses open exactly the threshold, or 2 h short of it a day earlier and
            cleared today once past it.
            """
            prefix = "TX" if etype == E_OFFLINE else "L09"
            for _ in range(counts[0]):
                u = unit()
                ts = end - int(rng.uniform(threshold_h + 2, threshold_h + 20) * H)
                rows.append((u, etype, self._new_device(u, prefix), ts, C_NONE, end + int(rng.uniform(1, 100) * H)))
            for j in range(counts[1]):
                u = unit()
                if j % 2 == 0:
                    rows.append((u, etype, self._new_device(u, prefix), end - threshold_h * H, C_NONE,
                                 end + int(rng.uniform(1, 20) * H)))
                else:
                    rows.append((u, etype, self._new_device(u, prefix), end - (threshold_h + 22) * H, C_NONE,
                                 start + int(rng.uniform(6, 20) * H)))

        for rule, etype in LONG_EVENTS:
            long_event(etype, planted[rule], params(rule)["open_more_than_h"])
        pos, nm = planted["fire.false_alarms"]
        least = int(params("fire.false_alarms")["at_least"])

        def burst(u: int, devices: list[str], confirms: list[int], span_h: float) -> None:
            t0 = start + int(rng.uniform(8, 10) * H)
            times = sorted(t0 + int(x) for x in rng.uniform(0, span_h * H, len(confirms)))
            for dev, c, ts in zip(devices, confirms, times, strict=True):
                rows.append((u, E_ALARM, dev, ts, c, ts + int(rng.integers(60, 900))))

        for j in range(pos):  # exactly the minimum, or two more, within a few hours
            u = unit()
            k = least if j % 2 == 0 else least + 2
            dev = self._new_device(u)
            burst(u, [dev] * k, [C_FALSE] * k, 6 if k == least else 8)
        for j in range(nm):
            u = unit()
            variant = CATALOG["fire.false_alarms"][1][j % 3]
            if variant == "two_false":  # one short of the minimum
                dev = self._new_device(u)
                burst(u, [dev] * (least - 1), [C_FALSE] * (least - 1), 4)
            elif variant == "one_is_test":  # the minimum, one of them a test
                dev = self._new_device(u)
                burst(u, [dev] * least, [C_FALSE] * (least - 2) + [C_TEST, C_FALSE], 6)
            else:  # the minimum spread over as many devices
                burst(u, [self._new_device(u) for _ in range(least)], [C_FALSE] * least, 6)
        return rows

    # -- deliveries --------------------------------------------------------------------------------
    def units_text(self, day: int, noise: dict, dates: DateTable) -> tuple[str, int]:
        rng = stream(self.seed, "noise", "fire_units", day)
        end = (day + 1) * 86400
        offline_units = set(self.ev_unit[(self.ev_type == E_OFFLINE) & (self.ev_ts < end)
                                         & (self.ev_cleared >= end)].tolist())
        names = punctuate([u.name for u in self.units], rng, noise["quoted_fields"], (",分部", "\n(二期)", ",东楼"))
        rows = []
        for i, (u, name) in enumerate(zip(self.units, names, strict=True)):
            status = "离线" if i in offline_units else "在线"
            rows.append(",".join([u.unit_id, quote(name), u.address, u.category,
                                  dates.one(u.last_inspection, "yyyy-MM-dd"), status]))
        return "\n".join(rows) + "\n", len(rows)

    def day_events(self, day: int) -> np.ndarray:
        start, end = day * 86400, (day + 1) * 86400
        return np.flatnonzero((self.ev_ts < end) & (self.ev_cleared >= start))

    def events_text(self, day: int, dates: DateTable) -> tuple[str, int]:
        idx = self.day_events(day)
        end = (day + 1) * 86400
        ts = dates.timestamps(self.ev_ts[idx], "space")
        cleared = self.ev_cleared[idx]
        shown = np.where(cleared < end, cleared, 0)
        cl = dates.timestamps(shown, "space")
        cl = [c if s else "" for c, s in zip(cl, shown.tolist(), strict=True)]
        unit_ids = [self.units[u].unit_id for u in self.ev_unit[idx].tolist()]
        rows = [",".join(r) for r in zip(self.ev_id[idx].tolist(), unit_ids, self.ev_device[idx].tolist(),
                                         [EVENT_TYPES[t] for t in self.ev_type[idx].tolist()], ts,
                                         [CONFIRM[c] for c in self.ev_confirm[idx].tolist()], cl, strict=True)]
        return ("\n".join(rows) + "\n") if rows else "", len(rows)

    # -- truth -------------------------------------------------------------------------------------
    def flags(self, day: int) -> list[tuple[str, str, str, str]]:
        end = (day + 1) * 86400
        out = []
        known = self.ev_ts < end
        still_open = known & (self.ev_cleared >= end)
        for rule, etype in LONG_EVENTS:
            hours = params(rule)["open_more_than_h"]
            hit = np.flatnonzero(still_open & (self.ev_type == etype) & (end - self.ev_ts > hours * H))
            seen = set()
            for i in hit.tolist():
                key = f"{self.units[self.ev_unit[i]].unit_id}/{self.ev_device[i]}"
                if key not in seen:
                    seen.add(key)
                    out.append((rule, "device", key, f"{EVENT_TYPES[etype]} open {(end - self.ev_ts[i]) / H:.1f} h"))
        alarms = params("fire.false_alarms")
        least, window = int(alarms["at_least"]), alarms["within_h"] * H
        false = np.flatnonzero(known & (self.ev_type == E_ALARM) & (self.ev_confirm == C_FALSE))
        by_device: dict[tuple[int, str], list[int]] = {}
        for i in false.tolist():
            by_device.setdefault((int(self.ev_unit[i]), str(self.ev_device[i])), []).append(int(self.ev_ts[i]))
        for (u, dev), times in sorted(by_device.items()):
            times.sort()
            for a in range(len(times) - least + 1):
                last = times[a + least - 1]
                if last - times[a] <= window and last >= day * 86400:
                    out.append(("fire.false_alarms", "device", f"{self.units[u].unit_id}/{dev}",
                                f"≥ {least} confirmed-false fire alarms within {alarms['within_h']} h"))
                    break
        overdue = int(params("fire.inspection_overdue")["more_than_days"])
        for u in self.units:
            if day - u.last_inspection > overdue:
                out.append(("fire.inspection_overdue", "unit", u.unit_id,
                            f"last annual inspection {day - u.last_inspection} days ago"))
        return out

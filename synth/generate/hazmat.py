"""Hazmat enterprises, vehicles, crews, daily trajectories (JT/T 808 points) and e-waybills.

Vehicles live at chemical parks (geo.py). A day of a vehicle is a list of legs, each a chain of
straight pieces along the roads reference's polylines with a road class and a speed: site →
interchange ``I`` → expressway → the other park's ``I`` → site, or site → ``S`` → 国道/省道 →
customer. A terminal reports every 10–30 s while the engine runs (moving or not) and every 5 min
while parked with the engine off. Every leg an ambient vehicle drives is covered by a waybill
whose plan window opens 5–30 min before departure and closes 10–40 min after arrival; ambient
vehicles keep within every rule with a margin set from the rules' params (:class:`Limits`), stop
only at sites (never near a sensitive place) and stay within ≈ 1.75 km of the straight line
between load and unload sites. Some end the day with a late delivery past midnight (on a
国道/省道: expressways are closed at night): the rest of that trip is carried into the next day
(:class:`Carry`), as are 2 % of the last hour's reports, delivered late.

Truth, per plate and date, on the clean points and waybills of that date's delivery and the day
before's (:func:`visible`: what the date's run reads), an episode counting when it overlaps the
date, with the thresholds of the params of conf/rules/hazmat.yaml (:func:`.thresholds.params`;
the numbers below are its defaults):

* no waybill: a run of consecutive points moving faster than 5 km/h, none covered by the
  plan window of a non-cancelled waybill of the plate, spanning more than 5 min;
* crew not qualified / at risk: a non-cancelled waybill whose driver has no active 危险货物运输驾驶员
  qualification, whose escort has no active 危险货物运输押运人员 one, or has no escort; a driver or
  escort with a mental or drug condition (truth.py);
* fatigue: between rests (stops of ≥ 20 min, first to last zero-speed point) the span from the
  first to the last moving point exceeds 4 h, or the moving time of the day (the intervals from
  each moving point of the day to the next point when that moves too) exceeds 8 h;
* speeding: consecutive points above the limit of their road (80 km/h on 高速, 60 elsewhere)
  spanning ≥ 30 s;
* night ban: any point on a 高速 between 22:00 and 06:00;
* sensitive stop: a stop (zero speed) spanning more than 10 min within 200 m of one place (the
  nearest);
* route deviation: a point inside a non-cancelled waybill's window more than 2 km from the
  segment between its load and unload sites (the nearest, inside two windows).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .geo import CITIES, Province, along, along_line, bearing_deg, dist_km, line_km, point_segment_km, stream, sub_line
from .noise import damage_ids, punctuate
from .output import DateTable, quote
from .population import CrewSlot, plate_for
from .tables import CS_ACTIVE, CT_HAZMAT_DRIVER, CT_HAZMAT_ESCORT
from .thresholds import clock_seconds, codes, condition, params
from .vocab import CHEMICAL_WORDS, COMPANY_WORDS, HAZMAT_GOODS

CREW_CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hazmat.crew_unqualified": (("no_escort", "driver_expired", "escort_revoked", "driver_wrong_type"),
                                ("driver_valid_today",)),
    "hazmat.crew_at_risk": (("driver_mental", "escort_drug"), ("escort_mental_risk2",)),
}
#: Planted day scenarios per rule: (positives, near misses). Every boundary is set from the
#: rule's params (conf/rules/hazmat.yaml), one step either side: 4 h ± 1 min of continuous
#: driving, a rest of 20 min ± 1, 80 + 1 km/h for 30 ± 1 s, 22:00 ± 1 min, a stop of 10 ± 1 min at
#: 200 ± 50 m, a detour of 2 ± 0.1 km (the defaults). The ``midnight_*`` fatigue cases drive
#: across midnight: planted on one date, the positive fires on the next (:meth:`Day._past_midnight`).
DAY_CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hazmat.no_waybill": (("no_waybill", "cancelled_waybill"), ("short_move", "creep")),
    "hazmat.fatigue": (("continuous_over", "short_rest", "daily_total", "midnight_over"),
                       ("continuous_under", "rest_enough", "midnight_under")),
    "hazmat.speeding": (("expressway_over", "national_over"),
                        ("expressway_at_limit", "expressway_short", "national_at_limit")),
    "hazmat.night_ban": (("evening_late", "morning_early"), ("evening_in_time", "morning_in_time", "national_night")),
    "hazmat.sensitive_stop": (("stop_long_near",), ("stop_short_near", "stop_long_far")),
    "hazmat.route_deviation": (("detour_over",), ("detour_under",)),
}
CLS_NONE, CLS_EXP, CLS_NAT, CLS_PROV, CLS_CITY = range(5)
#: The road class of each code, as roads_*.geojson and the rules name them (CLS_NONE: off-road).
ROAD_CLASSES = ("", "高速", "国道", "省道", "城市道路")
#: Scenarios that drive a radial road (they start the day at a site with a good delivery).
RADIAL_VARIANTS = ("cancelled_waybill", "short_move", "creep", "national_over", "national_at_limit", "national_night",
                   "detour_over", "detour_under", "midnight_over", "midnight_under")
#: Scenarios that report every 10 s (their boundaries are finer than 30 s).
TEN_SECOND_VARIANTS = ("expressway_over", "expressway_short", "expressway_at_limit", "national_over",
                       "national_at_limit", "continuous_over", "continuous_under", "short_rest", "rest_enough",
                       "midnight_over", "midnight_under", "evening_late", "evening_in_time", "morning_early", "morning_in_time")
H = 3600
DAY = 86400
#: Seconds between reports of a terminal whose engine is off (ACC off: the sleep interval).
PARKED_INTERVAL = 300
#: Share of ambient vehicles that stand idle all day, and that end the day with a late delivery
#: on a 国道/省道 that runs past midnight (expressways are closed to them at night).
IDLE_DAY_SHARE = 0.04
MIDNIGHT_TRIP_SHARE = 0.10
COLOURS = ("黄", "黄绿", "蓝")
VEHICLE_TYPES = ("罐式", "厢式", "栏板", "牵引车", "挂车")


@dataclass(frozen=True)
class Limits:
    """What ambient vehicles keep within, set from the hazmat rules' params with a margin, so
    ambient traffic fires no rule whatever the thresholds are."""

    exp_cap: float  # km/h on expressways (limit − 2)
    other_cap: float  # km/h elsewhere (limit − 2)
    exp_open: int  # seconds after midnight: expressways used from (night end + 30 min) …
    exp_close: int  # … to (night start − 30 min)
    leg_s: float  # one leg shorter than the continuous-driving limit − 30 min
    day_s: float  # moving time a day below the daily limit − 45 min
    rest_s: float  # stops between legs last at least the rest + 15 min

    @classmethod
    def now(cls) -> "Limits":
        sp, nb, fa = params("hazmat.speeding"), params("hazmat.night_ban"), params("hazmat.fatigue")
        return cls(float(sp["expressway_limit_kmh"]) - 2, float(sp["other_limit_kmh"]) - 2,
                   clock_seconds(nb["until"]) + 1800, clock_seconds(nb["from"]) - 1800,
                   float(fa["continuous_more_than_h"]) * H - 1800, float(fa["daily_more_than_h"]) * H - 2700,
                   float(fa["rest_stop_at_least_s"]) + 900)


def credit_code(area6: str, rng: np.random.Generator) -> str:
    """An 18-character unified social credit code with a correct GB 32100 check character."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    body = "91" + area6 + "".join(chars[int(i)] for i in rng.integers(0, len(chars), 9))
    total = sum(chars.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + chars[(31 - total % 31) % 31]


@dataclass
class Piece:
    a: tuple[float, float]
    b: tuple[float, float]
    cls: int
    kmh: float
    cap: float
    exact: bool = False


@dataclass
class Vehicle:
    plate: str
    colour: str
    carrier: str
    permit_no: str
    permit_until: int
    vtype: str
    city: int
    site: int  # special-address index of its home site
    interval: int  # seconds between reports while moving
    crew_variant: str = "ambient"
    driver: dict | None = None
    escort: dict | None = None


@dataclass
class Waybill:
    no: str
    vehicle: int
    load: int  # special-address index
    unload: int
    depart: int  # plan window, local epoch seconds
    arrive: int
    status: str
    un: tuple[str, str, str]
    kg: float


class Track:
    """The clean points of one vehicle, in time order (local epoch seconds, whole seconds).

    A terminal reports every ``interval`` seconds while the engine runs — moving, or standing
    with the engine on (loading, unloading, queueing, a rest with the engine idling) — and every
    :data:`PARKED_INTERVAL` seconds while parked with the engine off (JT/T 808's default and
    sleep intervals).
    """

    def __init__(self, t0: float, pos: tuple[float, float], interval: int) -> None:
        self.t = float(t0)
        self.pos = pos
        self.interval = interval
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "lon", "lat", "spd", "hdg", "cls")}
        self.heading = 0

    def _add(self, t, lon, lat, spd, hdg, cls) -> None:
        for k, v in (("t", t), ("lon", lon), ("lat", lat), ("spd", spd), ("hdg", hdg), ("cls", cls)):
            self.cols[k].append(np.asarray(v))

    def _stand(self, ts: np.ndarray) -> None:
        n = len(ts)
        if n:
            self._add(ts, np.full(n, self.pos[0]), np.full(n, self.pos[1]), np.zeros(n), np.full(n, self.heading),
                      np.zeros(n))

    def park(self, until: float) -> None:
        """Stand with the engine off (a report every 5 min) until ``until``."""
        self._stand(np.arange(math.ceil(self.t), until, float(PARKED_INTERVAL)))
        self.t = max(self.t, until)

    def idle(self, until: float) -> None:
        """Stand with the engine on (a report every ``interval``) until ``until``."""
        self._stand(np.arange(math.ceil(self.t), until, float(self.interval)))
        self.t = max(self.t, until)

    def stop_exactly(self, seconds: float) -> None:
        """Stand with the engine on so that the stop's reports span exactly ``seconds`` from the
        first (on arrival) to the last; the next report, moving, comes one interval later."""
        start = math.ceil(self.t)
        ts = np.arange(start, start + seconds, float(self.interval))
        self._stand(np.concatenate([ts, [start + seconds]]) if seconds > 0 else np.array([float(start)]))
        self.t = start + seconds + self.interval

    def drive(self, pieces: list[Piece], rng: np.random.Generator, interval: int | None = None) -> float:
        """Drive the pieces from now; returns the arrival time."""
        dt = interval or self.interval
        t0 = math.ceil(self.t)
        lengths = np.array([float(dist_km(p.a[0], p.a[1], p.b[0], p.b[1])) for p in pieces])
        durs = lengths / np.array([p.kmh for p in pieces]) * H
        bounds = t0 + np.cumsum(durs)
        starts = bounds - durs
        ts = np.arange(t0, bounds[-1], float(dt))
        k = np.minimum(np.searchsorted(bounds, ts, side="right"), len(pieces) - 1)
        frac = np.where(durs[k] > 0, (ts - starts[k]) / np.maximum(durs[k], 1e-9), 0.0)
        alon = np.array([p.a[0] for p in pieces])
        alat = np.array([p.a[1] for p in pieces])
        blon = np.array([p.b[0] for p in pieces])
        blat = np.array([p.b[1] for p in pieces])
        lon = alon[k] + (blon[k] - alon[k]) * frac
        lat = alat[k] + (blat[k] - alat[k]) * frac
        kmh = np.array([p.kmh for p in pieces])[k]
        cap = np.array([p.cap for p in pieces])[k]
        exact = np.array([p.exact for p in pieces])[k]
        spd = np.where(exact, np.round(kmh * 10), np.minimum(np.round(kmh * 10 + rng.uniform(-15, 15, len(ts))), cap * 10))
        hdg = np.array([round(bearing_deg(p.a, p.b)) % 360 for p in pieces])[k]
        cls = np.array([p.cls for p in pieces])[k]
        self._add(ts, lon, lat, spd, hdg, cls)
        self.t = float(bounds[-1])
        self.pos = pieces[-1].b
        self.heading = int(hdg[-1]) if len(hdg) else self.heading
        return self.t

    def since(self, start: int) -> dict[str, np.ndarray]:
        """The points added since ``len(cols["t"])`` was ``start``, merged into one array per column
        (and the track's columns merged the same way, so that they can be edited in place)."""
        merged = {k: np.concatenate(v[start:]) for k, v in self.cols.items()}
        for k, v in self.cols.items():
            del v[start:]
            v.append(merged[k])
        return merged

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.cols.items()}
        out["t"] = np.floor(out["t"]).astype(np.int64)
        out["spd"] = out["spd"].astype(np.int64)
        out["hdg"] = out["hdg"].astype(np.int64)
        out["cls"] = out["cls"].astype(np.int8)
        return out


@dataclass
class Carry:
    """What a vehicle's day leaves to the next: the reports after midnight of a trip that crossed
    it, the reports of the day's last hour delivered only in the next day's file, where the
    vehicle stands and from when, its moving seconds after midnight, the day's waybills still
    open in its last hour (delivered again on the first date, for a run that starts there) and
    those planned to depart after midnight (delivered the next day, as every waybill is delivered
    on the date of its planned departure)."""

    points: dict[str, np.ndarray]
    late: dict[str, np.ndarray]
    end: float
    pos: tuple[float, float]
    moving_s: float
    waybills: list["Waybill"]
    next_waybills: list["Waybill"]  # planned to depart after midnight: the next day's delivery


class HazmatWorld:
    """Enterprises, carriers and vehicles for a run; days are planned one at a time."""

    def __init__(self, seed: int, province: Province, n_vehicles: int, start: int,
                 crew_planted: list[str]) -> None:
        self.seed, self.prov, self.start = seed, province, start
        rng = stream(seed, "hazmat")
        prov = province
        # Enterprises = sites of the parks.
        self.enterprises = []
        self.site_enterprise: dict[int, int] = {}
        for park in prov.parks:
            ccode = prov.city_codes[park.city]
            short = prov.city_names[ccode][:-1]
            for site in park.sites:
                e = len(self.enterprises)
                goods = sorted(set(int(i) for i in rng.integers(0, len(HAZMAT_GOODS), int(rng.integers(1, 4)))))
                name = (short + COMPANY_WORDS[int(rng.integers(0, len(COMPANY_WORDS)))]
                        + CHEMICAL_WORDS[int(rng.integers(0, len(CHEMICAL_WORDS)))] + "有限公司")
                level = str(rng.choice(["一级", "二级", "三级", "四级", "无"], p=[0.05, 0.1, 0.2, 0.25, 0.4]))
                self.enterprises.append(dict(id=f"WH{ccode[:4]}{e + 1:05d}", name=name, site=site,
                                             credit=credit_code(prov.special[site].code[:6], rng),
                                             goods=goods, level=level, fire_unit=""))
                self.site_enterprise[site] = e
        # Carriers per city.
        self.carriers: dict[int, list[str]] = {}
        for c, ccode in enumerate(prov.city_codes):
            short = prov.city_names[ccode][:-1]
            k = max(1, n_vehicles // 150)
            self.carriers[c] = [short + COMPANY_WORDS[int(i)] + "危险品运输有限公司"
                                for i in rng.choice(len(COMPANY_WORDS), min(k, len(COMPANY_WORDS)), replace=False)]
        # Vehicles.
        pops = np.array([CITIES[c][4] for c in prov.city_codes])
        seen: set[str] = set()
        self.vehicles: list[Vehicle] = []
        for v in range(n_vehicles):
            c = int(rng.choice(len(pops), p=pops / pops.sum())) if v >= len(pops) else v
            letters = CITIES[prov.city_codes[c]][1]
            plate = plate_for(letters, rng)
            while plate in seen:
                plate = plate_for(letters, rng)
            seen.add(plate)
            park = prov.parks[c]
            self.vehicles.append(Vehicle(
                plate=plate, colour=str(rng.choice(COLOURS[:2], p=[0.95, 0.05])),
                carrier=self.carriers[c][int(rng.integers(0, len(self.carriers[c])))],
                permit_no=f"{prov.city_codes[c]}{v + 1:06d}", permit_until=start + int(rng.integers(30, 1500)),
                vtype=str(rng.choice(VEHICLE_TYPES[:4], p=[0.5, 0.2, 0.1, 0.2])), city=c,
                site=park.sites[int(rng.integers(0, len(park.sites)))],
                interval=int(rng.choice([10, 15, 20, 30], p=[0.3, 0.3, 0.25, 0.15]))))
        # Trailers: on file, never report positions or carry waybills.
        self.trailers = []
        for v in range(max(1, n_vehicles // 20)):
            c = int(rng.integers(0, len(pops)))
            letters = CITIES[prov.city_codes[c]][1]
            plate = "苏" + letters[0] + "".join(str(int(i)) for i in rng.integers(0, 10, 4)) + "挂"
            if plate not in seen:
                seen.add(plate)
                self.trailers.append((plate, self.carriers[c][0], f"{prov.city_codes[c]}9{v + 1:05d}",
                                      start + int(rng.integers(30, 1500))))
        for v, variant in enumerate(crew_planted):
            self.vehicles[v].crew_variant = variant
        self.carry: dict[int, Carry] = {}
        self._road_index = None
        self._max_road_m = 0.0

    # -- crews ------------------------------------------------------------------------------------
    def crew_slots(self) -> list[CrewSlot]:
        slots = []
        driver_variants = ("driver_expired", "driver_wrong_type", "driver_valid_today", "driver_mental")
        escort_variants = ("escort_revoked", "escort_drug", "escort_mental_risk2")
        for i, v in enumerate(self.vehicles):
            cv = v.crew_variant
            slots.append(CrewSlot(i, "driver", cv if cv in driver_variants else "ambient", v.carrier, v.plate))
            if cv != "no_escort":
                slots.append(CrewSlot(i, "escort", cv if cv in escort_variants else "ambient", v.carrier, v.plate))
        return slots

    def attach_crew(self, members: list[dict]) -> None:
        for m in members:
            v = self.vehicles[m["vehicle"]]
            if m["role"] == "driver":
                v.driver = m
            else:
                v.escort = m

    # -- snapshot deliveries ----------------------------------------------------------------------
    def enterprises_text(self, day: int, noise: dict) -> tuple[str, int]:
        rng = stream(self.seed, "noise", "hazmat_enterprises", day)
        names = punctuate([e["name"] for e in self.enterprises], rng, noise["quoted_fields"], (",二分厂", "\n(原厂区)"))
        rows = []
        for e, name in zip(self.enterprises, names, strict=True):
            un = ";".join(HAZMAT_GOODS[g][0] for g in e["goods"])
            rows.append(",".join([e["id"], quote(name), e["credit"], self.prov.special[e["site"]].code, un, e["level"],
                                  e["fire_unit"]]))
        return "\n".join(rows) + "\n", len(rows)

    def vehicles_text(self, day: int, dates: DateTable) -> tuple[str, int]:
        rows = [",".join([v.plate, v.colour, quote(v.carrier), v.permit_no, dates.one(v.permit_until, "yyyyMMdd"),
                          v.vtype]) for v in self.vehicles]
        rows += [",".join([p, "黄", quote(c), n, dates.one(u, "yyyyMMdd"), "挂车"]) for p, c, n, u in self.trailers]
        return "\n".join(rows) + "\n", len(rows)

    # -- road classes as the pipeline finds them -------------------------------------------------------
    def classify(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Road class codes of positions as the pipeline's nearest-road join finds them: the
        nearest road of the roads reference within the track stage's ``max_road_m``, through the
        same code (:class:`gridrisk.spatial.SpatialIndex`) on the positions as written (10⁻⁶°)."""
        if self._road_index is None:
            from gridrisk.spatial import Reference, SpatialIndex
            from jobs.silver.vehicle_tracks import TrackSettings

            roads = [(r.road_id, r.name, r.road_class, json.dumps(r.geometry())) for r in self.prov.roads]
            self._road_index = SpatialIndex(Reference.of([], roads, []))
            self._max_road_m = TrackSettings().max_road_m
        if not len(lon):
            return np.zeros(0, dtype=np.int8)
        found = self._road_index.annotate(np.round(np.asarray(lon) * 1e6) / 1e6, np.round(np.asarray(lat) * 1e6) / 1e6,
                                          self._max_road_m, 0.0)["road_class"]
        return np.array([ROAD_CLASSES.index(c) if c else CLS_NONE for c in found.tolist()], dtype=np.int8)

    # -- a day ------------------------------------------------------------------------------------
    def plan_day(self, day: int, scenarios: list[tuple[str, str]], first: bool = False) -> "Day":
        """Plan every vehicle's day; ``scenarios`` go to distinct vehicles with clean crews that
        do not start the day finishing yesterday's trip. ``first``: the first delivered date (it
        also carries yesterday's waybills still open in its last hour)."""
        rng = stream(self.seed, "hazmat-day", day)
        carry_in, self.carry = self.carry, {}
        busy = {i for i, c in carry_in.items() if len(c.points["t"])}
        clean = [i for i, v in enumerate(self.vehicles) if v.crew_variant == "ambient" and i not in busy]
        chosen = rng.choice(clean, size=len(scenarios), replace=False).tolist() if scenarios else []
        assigned = dict(zip(chosen, scenarios, strict=True))
        plans = Day(self, day)
        planned = []
        for i in range(len(self.vehicles)):
            vr = stream(self.seed, "hazmat-vehicle", day, i)
            planned.append((i, plans.plan(i, assigned.get(i), vr, carry_in.get(i)), vr))
        # Off-road reports of moving vehicles (site connectors, detours) take the class of the road
        # the pipeline will put them on: near an interchange that is the expressway.
        masks = [(p.points["cls"] == CLS_NONE) & (p.points["spd"] > 0) for _, p, _ in planned]
        lon = np.concatenate([p.points["lon"][m] for (_, p, _), m in zip(planned, masks, strict=True)])
        lat = np.concatenate([p.points["lat"][m] for (_, p, _), m in zip(planned, masks, strict=True)])
        found = self.classify(lon, lat)
        at = 0
        for (_, p, _), m in zip(planned, masks, strict=True):
            n = int(m.sum())
            p.points["cls"][m] = found[at: at + n]
            at += n
        for i, p, vr in planned:
            plans.finish(i, p, vr, carry_in.get(i), first)
        return plans


@dataclass
class Planned:
    points: dict[str, np.ndarray]  # the day's track, past midnight if a trip crossed it
    waybills: list["Waybill"]
    scenario: tuple[str, str] | None
    end: float
    pos: tuple[float, float]


@dataclass
class VehicleDay:
    """A vehicle's delivered day: ``points`` are the clean reports of the day's file (yesterday's
    late ones included, the day's own late ones not), ``waybills`` those planned to depart on the
    day, ``delivered_waybills`` the day's waybills file (on the first date also yesterday's still
    open then)."""

    vehicle: int
    points: dict[str, np.ndarray]
    waybills: list[Waybill]
    scenario: tuple[str, str] | None
    delivered_waybills: list[Waybill] = field(default_factory=list)


@dataclass
class Day:
    world: HazmatWorld
    day: int
    vehicles: list[VehicleDay] = field(default_factory=list)
    _counter: int = 0
    _limits: Limits | None = None

    # -- geometry helpers ---------------------------------------------------------------------------
    def _xy(self, special: int) -> tuple[float, float]:
        s = self.world.prov.special[special]
        return (s.lon, s.lat)

    @property
    def limits(self) -> Limits:
        if self._limits is None:
            self._limits = Limits.now()
        return self._limits

    def _connector(self, a, b, rng, kmh: float | None = None) -> list[Piece]:
        return [Piece(a, b, CLS_NONE, kmh or float(rng.uniform(18, 28)), min(30.0, self.limits.other_cap))]

    def _expressway(self, path: list[tuple[float, float]], cruise: float) -> list[Piece]:
        """Along the expressway's line from one interchange to the other: 2 km of ramp at
        45 km/h at either end, the rest at ``cruise``."""
        length = float(line_km(path)[-1])
        ramp = min(2.0, length / 4)
        out = []
        for km0, km1, kmh, cap in ((0.0, ramp, 45.0, 50.0), (ramp, length - ramp, cruise, self.limits.exp_cap),
                                   (length - ramp, length, 45.0, 50.0)):
            pts = sub_line(path, km0, km1)
            out += [Piece(pts[j], pts[j + 1], CLS_EXP, kmh, cap) for j in range(len(pts) - 1)]
        return out

    def _road_path(self, road: int, reverse: bool = False) -> list[tuple[float, float]]:
        coords = list(self.world.prov.roads[road].coords)
        return coords[::-1] if reverse else coords

    def _inter_leg(self, site_a: int, site_b: int, city_a: int, city_b: int, cruise: float, rng,
                   conn_kmh: float | None = None) -> list[Piece]:
        prov = self.world.prov
        Ia, Ib = prov.parks[city_a].interchange, prov.parks[city_b].interchange
        edge = prov.edges[prov.edge_between[(city_a, city_b)]]
        path = self._road_path(edge.road, reverse=edge.a != city_a)
        return (self._connector(self._xy(site_a), Ia, rng, conn_kmh) + self._expressway(path, cruise)
                + self._connector(Ib, self._xy(site_b), rng, conn_kmh))

    def _radial_leg(self, site: int, city: int, road: int, customer: int, out: bool, kmh: float, rng,
                    conn_kmh: float | None = None) -> list[Piece]:
        prov = self.world.prov
        park = prov.parks[city]
        path = self._road_path(road)
        cls = CLS_NAT if prov.roads[road].road_class == "国道" else CLS_PROV
        pieces = (self._connector(self._xy(site), park.S, rng, conn_kmh)
                  + [Piece(path[j], path[j + 1], cls, kmh, self.limits.other_cap) for j in range(len(path) - 1)]
                  + self._connector(path[-1], self._xy(customer), rng, conn_kmh))
        if out:
            return pieces
        return [Piece(p.b, p.a, p.cls, p.kmh, p.cap, p.exact) for p in reversed(pieces)]

    @staticmethod
    def _duration(pieces: list[Piece]) -> float:
        return sum(float(dist_km(p.a[0], p.a[1], p.b[0], p.b[1])) / p.kmh * H for p in pieces)

    def _waybill(self, vehicle: int, load: int, unload: int, depart: float, arrive: float, rng,
                 status: str = "arrived") -> Waybill:
        e = self.world.site_enterprise.get(load)
        goods = self.world.enterprises[e]["goods"] if e is not None else list(range(len(HAZMAT_GOODS)))
        un = HAZMAT_GOODS[goods[int(rng.integers(0, len(goods)))]]
        self._counter += 1
        stamp = DateTable.compact([self.day])[0]
        no = f"YD{self.world.prov.city_codes[self.world.vehicles[vehicle].city][:4]}{stamp}{self._counter:05d}"
        return Waybill(no, vehicle, load, unload, int(depart - rng.uniform(5, 30) * 60),
                       int(arrive + rng.uniform(10, 40) * 60), status, un, float(round(rng.uniform(5, 30)) * 1000))

    # -- planning -------------------------------------------------------------------------------------
    def plan(self, i: int, scenario: tuple[str, str] | None, rng: np.random.Generator, carry: Carry | None) -> Planned:
        w = self.world
        prov = w.prov
        v = w.vehicles[i]
        d0 = self.day * DAY
        city = v.city
        site = v.site
        variant = scenario[1] if scenario else None
        park = prov.parks[city]
        # A scenario on a radial road starts the day at a site with a good delivery from it (for
        # the sensitive-stop ones: in the park whose road has the planted place).
        day_pair: tuple[int, int, int] | None = None  # (road, site, customer)
        self._slot = None
        if variant in ("stop_long_near", "stop_short_near", "stop_long_far"):
            kind = {"stop_long_near": "pos", "stop_short_near": "nm_short", "stop_long_far": "nm_far"}[variant]
            slots = [s for s in prov.stop_slots if s.kind == kind and prov.parks[s.park].pairs[s.road]]
            self._slot = slots[int(rng.integers(0, len(slots)))]
            city = self._slot.park
            park = prov.parks[city]
            pairs = park.pairs[self._slot.road]
            site, cust = pairs[int(rng.integers(0, len(pairs)))]
            day_pair = (self._slot.road, site, cust)
        elif variant in RADIAL_VARIANTS:
            if not (park.pairs[park.national] or park.pairs[park.provincial]):
                usable = [q.city for q in prov.parks if q.pairs[q.national] or q.pairs[q.provincial]]
                city = usable[int(rng.integers(0, len(usable)))]
                park = prov.parks[city]
            roads = [r for r in (park.national, park.provincial) if park.pairs[r]]
            road = roads[0]  # the 国道 when it has a good delivery
            site, cust = park.pairs[road][int(rng.integers(0, len(park.pairs[road])))]
            day_pair = (road, site, cust)
        interval = 10 if variant in TEN_SECOND_VARIANTS else v.interval
        start = d0 + int(rng.integers(0, 300))
        pos = self._xy(site)
        if carry is not None and len(carry.points["t"]):  # it stands where yesterday's trip past midnight ended
            start, pos = max(start, math.ceil(carry.end)), carry.pos
        track = Track(start, pos, interval)
        bills: list[Waybill] = []
        lim = self.limits

        def leg_out_and_back_inter(depart: float, cruise: float, edge: int | None = None, unload_min=None,
                                   bill_status=("arrived", "arrived")) -> tuple[float, int, int]:
            e = edge if edge is not None else park.edges[int(rng.integers(0, len(park.edges)))]
            ed = prov.edges[e]
            other = ed.b if ed.a == city else ed.a
            far = prov.parks[other].sites[int(rng.integers(0, len(prov.parks[other].sites)))]
            track.park(depart)
            out = self._inter_leg(site, far, city, other, cruise, rng)
            t1 = track.drive(out, rng)
            bills.append(self._waybill(i, site, far, depart, t1, rng, bill_status[0]))
            lo, hi = unload_min or (max(35.0, lim.rest_s / 60), 90.0)
            back_at = t1 + rng.uniform(lo, max(lo, hi)) * 60
            track.idle(back_at)  # unloading, engine on
            t2 = track.drive(self._inter_leg(far, site, other, city, cruise, rng), rng)
            bills.append(self._waybill(i, far, site, back_at, t2, rng, bill_status[1]))
            return t2, other, far

        def delivery(depart: float, kmh: float | None = None, modify=None, status=("arrived", "arrived"),
                     choice: tuple[int, int] | None = None) -> float | None:
            """Load at the site, deliver along a radial road, come back (None: no good customer)."""
            if day_pair is not None:
                road, _, cust = day_pair
            elif choice is not None:
                road, cust = choice
            else:
                options = self._radial_options(park, site)
                if not options:
                    return None
                road, cust = options[int(rng.integers(0, len(options)))]
            speed = kmh or float(rng.uniform(lim.other_cap - 16, lim.other_cap - 3))
            track.park(depart)
            pieces = self._radial_leg(site, city, road, cust, True, speed, rng)
            if modify is not None:
                t1 = modify(pieces)
            else:
                t1 = track.drive(pieces, rng)
            bills.append(self._waybill(i, site, cust, depart, t1, rng, status[0]))
            lo = max(35.0, lim.rest_s / 60)
            back_at = t1 + rng.uniform(lo, max(lo, 70.0)) * 60
            track.idle(back_at)  # unloading, engine on
            t2 = track.drive(self._radial_leg(site, city, road, cust, False, speed, rng), rng)
            bills.append(self._waybill(i, cust, site, back_at, t2, rng, status[1]))
            return t2

        cruise = float(rng.uniform(lim.exp_cap - 12, lim.exp_cap - 2))
        if variant is None:
            moving_before = carry.moving_s if carry is not None else 0.0
            self._ambient_day(i, track, bills, rng, park, city, site, leg_out_and_back_inter, delivery, cruise,
                              moving_before)
        else:
            self._scenario_day(variant, i, track, bills, rng, park, city, site, leg_out_and_back_inter, delivery, cruise)
        end, end_pos = track.t, track.pos
        track.park(d0 + DAY)
        return Planned(track.arrays(), bills, scenario, end, end_pos)

    def finish(self, i: int, p: Planned, rng: np.random.Generator, carry: Carry | None, first: bool) -> None:
        """Cut the planned track at midnight: the day's reports (yesterday's carried trip and late
        reports included) go into the day's delivery, except a share of the last hour's that reach
        the platform only after midnight (up to an hour late); what runs past midnight is carried."""
        d1 = (self.day + 1) * DAY
        pts = p.points
        t = pts["t"]
        mine = t < d1
        late = mine & (t >= d1 - H) & (rng.random(len(t)) < LATE_HOUR_SHARE)
        parts = ([carry.late, carry.points] if carry is not None else []) + [{k: a[mine & ~late] for k, a in pts.items()}]
        delivered = {k: np.concatenate([q[k] for q in parts]) for k in pts}
        order = np.argsort(delivered["t"], kind="stable")
        delivered = {k: a[order] for k, a in delivered.items()}
        after = {k: a[~mine] for k, a in pts.items()}
        tomorrow = [b for b in p.waybills if b.depart >= d1]  # the way back of a trip past midnight
        bills = (carry.next_waybills if carry is not None else []) + [b for b in p.waybills if b.depart < d1]
        if len(after["t"]) or late.any() or tomorrow:
            moving = after["spd"] > 0
            crossed = bool(len(after["t"]))  # else the vehicle starts tomorrow at its depot, as every day
            self.world.carry[i] = Carry(after, {k: a[late] for k, a in pts.items()}, p.end if crossed else d1,
                                        p.pos if crossed else self._xy(self.world.vehicles[i].site),
                                        float(moving.sum()) * self.world.vehicles[i].interval,
                                        [b for b in bills if b.arrive >= d1 - H], tomorrow)
        earlier = carry.waybills if (carry is not None and first) else []
        self.vehicles.append(VehicleDay(i, delivered, bills, p.scenario, earlier + bills))

    @staticmethod
    def _radial_options(park, site: int) -> list[tuple[int, int]]:
        return [(r, c) for r in (park.national, park.provincial) for s_, c in park.pairs[r] if s_ == site]

    def _ambient_day(self, i, track, bills, rng, park, city, site, inter, delivery, cruise, moving_before) -> None:
        """A working day: the engine on from the first loading to the last arrival (a report every
        10–30 s, moving or not), 1–4 trips within the rules' limits (:class:`Limits`), sometimes a
        late delivery on a 国道/省道 that runs past midnight."""
        d0 = self.day * DAY
        w = self.world
        v = w.vehicles[i]
        lim = self.limits
        u = rng.random()
        if u < IDLE_DAY_SHARE and v.crew_variant == "ambient":
            return  # an idle day at the depot
        shift = max(track.t, d0 + rng.uniform(5.5, 7.0) * H)
        track.park(shift)
        t = shift + rng.uniform(40, 90) * 60  # loading, engine on
        track.idle(t)
        trips = int(rng.choice([1, 2, 3, 4], p=[0.12, 0.33, 0.38, 0.17]))
        driven = moving_before
        for _ in range(trips):
            if rng.random() < 0.55:
                e = park.edges[int(rng.integers(0, len(park.edges)))]
                ed = w.prov.edges[e]
                leg = ed.km / cruise * H + 0.3 * H
                if (leg > lim.leg_s or t < d0 + lim.exp_open or t + 2 * leg + 1.6 * H > d0 + lim.exp_close
                        or driven + 2 * leg > lim.day_s):
                    continue
                end, _, _ = inter(t, cruise, edge=e)
            else:
                options = self._radial_options(park, site)
                if not options:
                    continue
                choice = options[int(rng.integers(0, len(options)))]
                leg = self._duration(self._radial_leg(site, city, choice[0], choice[1], True, lim.other_cap - 16, rng))
                if t + 2 * leg + 1.4 * H > d0 + 22 * H or driven + 2 * leg > lim.day_s or leg > lim.leg_s:
                    continue
                end = delivery(t, choice=choice)
                assert end is not None
            driven += end - t - lim.rest_s  # the unloading stop is at least a rest
            t = end + rng.uniform(lim.rest_s / 60 + 5, 120) * 60
            track.idle(t)  # back at the depot: loading the next one
        if not bills and v.crew_variant != "ambient":  # vehicles with planted crews always work
            if delivery(max(t, d0 + 9 * H)) is None:
                inter(max(t, d0 + 9 * H), cruise)
        options = self._radial_options(park, site)
        if options and rng.random() < MIDNIGHT_TRIP_SHARE:  # a late delivery past midnight
            choice = options[int(rng.integers(0, len(options)))]
            leg = self._duration(self._radial_leg(site, city, choice[0], choice[1], True, lim.other_cap - 16, rng))
            depart = d0 + rng.uniform(22.7, 23.6) * H
            if driven + 2 * leg < lim.day_s and leg < lim.leg_s and track.t < depart - 2 * H:
                track.park(depart - rng.uniform(30, 60) * 60)
                track.idle(depart)
                delivery(depart, choice=choice)
        elif rng.random() < 0.02:  # a waybill created for a trip late tonight that never started
            late = d0 + rng.uniform(23.3, 23.6) * H
            cust = park.customers[0]
            bills.append(self._waybill(i, site, cust, late, late + 2 * H, rng, "created"))
        track.idle(track.t + rng.uniform(10, 40) * 60)  # end of the shift, engine on

    def _scenario_day(self, variant, i, track, bills, rng, park, city, site, inter, delivery, cruise) -> None:
        d0 = self.day * DAY
        w = self.world
        prov = w.prov
        lim = self.limits
        if variant == "no_waybill":  # half an hour along the radial road and back, no waybill
            path = self._road_path(park.national)
            length = float(line_km(path)[-1])
            plon = np.array([q.lon for q in prov.places])
            plat = np.array([q.lat for q in prov.places])
            prad = np.array([q.radius_m for q in prov.places])
            for f in np.linspace(0.9, 0.3, 25):  # turn where no place is anywhere near
                mid, _ = along_line(path, float(f) * length)
                if np.all(dist_km(mid[0], mid[1], plon, plat) * 1000 - prad > 1000):
                    break
            track.park(d0 + rng.uniform(13, 15) * H)
            kmh = lim.other_cap - 13
            way = sub_line(path, 0.0, float(f) * length)
            road = [Piece(way[j], way[j + 1], CLS_NAT, kmh, lim.other_cap) for j in range(len(way) - 1)]
            track.drive(self._connector(self._xy(site), park.S, rng) + road, rng)
            track.idle(track.t + 3 * 60)
            track.drive([Piece(q.b, q.a, q.cls, q.kmh, q.cap) for q in reversed(road)]
                        + self._connector(park.S, self._xy(site), rng), rng)
        elif variant == "cancelled_waybill":
            delivery(d0 + rng.uniform(9, 11) * H, status=("cancelled", "arrived"))
        elif variant in ("short_move", "creep"):
            th = params("hazmat.no_waybill")
            toward = along(self._xy(site), bearing_deg(self._xy(site), park.interchange), 0.8)
            track.park(d0 + rng.uniform(10, 12) * H)
            if variant == "short_move":  # 0.8 km in 40 s less than the limit, twice, 30 min apart
                kmh = max(0.8 / (th["longer_than_s"] - 40) * H, th["moving_above_kmh"] + 3)
                track.drive([Piece(self._xy(site), toward, CLS_NONE, kmh, kmh + 1)], rng)
                track.idle(track.t + 30 * 60)
                track.drive([Piece(toward, self._xy(site), CLS_NONE, kmh, kmh + 1)], rng)
            else:  # queueing at the gate: exactly the threshold speed, there and back
                kmh = float(th["moving_above_kmh"])
                track.drive([Piece(self._xy(site), toward, CLS_NONE, kmh, kmh, True),
                             Piece(toward, self._xy(site), CLS_NONE, kmh, kmh, True)], rng)
            delivery(d0 + rng.uniform(14, 15) * H)
        elif variant in ("continuous_over", "continuous_under", "short_rest", "rest_enough", "daily_total"):
            self._fatigue(variant, i, track, bills, rng, park, city, site)
        elif variant in ("midnight_over", "midnight_under"):
            self._past_midnight(variant, i, track, bills, rng, park, city, site)
        elif variant in ("expressway_over", "expressway_short", "expressway_at_limit"):
            start = len(track.cols["t"])
            inter(d0 + rng.uniform(8, 10) * H, cruise)
            th = params("hazmat.speeding")
            pts = track.since(start)
            on_exp = np.flatnonzero((pts["cls"] == CLS_EXP) & (np.abs(pts["spd"] - round(cruise * 10)) <= 20))
            mid = int(on_exp[len(on_exp) // 4])
            limit = float(th["expressway_limit_kmh"])
            if variant == "expressway_at_limit":  # exactly the limit for 5 min
                self._over(pts, mid, 300, round(limit * 10), 0)
            else:  # one km/h over for one second more / less than the rule's minimum
                self._over(pts, mid, int(th["at_least_s"]), round((limit + 1) * 10),
                           1 if variant == "expressway_over" else -1)
        elif variant in ("national_over", "national_at_limit"):
            start = len(track.cols["t"])
            delivery(d0 + rng.uniform(9, 11) * H)
            th = params("hazmat.speeding")
            pts = track.since(start)
            on_road = np.flatnonzero(np.isin(pts["cls"], (CLS_NAT, CLS_PROV)))
            mid = int(on_road[len(on_road) // 4])
            limit = float(th["other_limit_kmh"])
            if variant == "national_at_limit":
                self._over(pts, mid, 300, round(limit * 10), 0)
            else:
                self._over(pts, mid, int(th["at_least_s"]), round((limit + 1) * 10), 1)
        elif variant in ("evening_late", "evening_in_time", "morning_early", "morning_in_time"):
            self._night(variant, i, track, bills, rng, park, city, site, cruise)
        elif variant == "national_night":  # a 国道/省道 at night is allowed (it may run past midnight)
            delivery(d0 + clock_seconds(params("hazmat.night_ban")["from"]) + rng.uniform(0.1, 0.3) * H)
        elif variant in ("stop_long_near", "stop_short_near", "stop_long_far"):
            slot = self._slot
            longer = float(params("hazmat.sensitive_stop")["stop_longer_than_s"])
            seconds = longer - 60 if variant == "stop_short_near" else longer + 60

            def stop_on_road(pieces: list[Piece]) -> float:
                stop = (slot.lon, slot.lat)
                on_road = [j for j, p in enumerate(pieces) if p.cls in (CLS_NAT, CLS_PROV)]
                road_piece = min(on_road, key=lambda j: float(point_segment_km(
                    stop[0], stop[1], pieces[j].a[0], pieces[j].a[1], pieces[j].b[0], pieces[j].b[1])))
                p = pieces[road_piece]
                before = pieces[:road_piece] + [Piece(p.a, stop, p.cls, p.kmh, p.cap)]
                after = [Piece(stop, p.b, p.cls, p.kmh, p.cap)] + pieces[road_piece + 1:]
                track.drive(before, rng)
                track.stop_exactly(seconds)
                return track.drive(after, rng)

            delivery(d0 + rng.uniform(9, 11) * H, modify=stop_on_road)
        elif variant in ("detour_over", "detour_under"):
            far_km = float(params("hazmat.route_deviation")["more_than_km"])
            km = far_km + 0.1 if variant == "detour_over" else far_km - 0.1

            def detour(pieces: list[Piece]) -> float:
                on_road = [j for j, p in enumerate(pieces) if p.cls in (CLS_NAT, CLS_PROV)]
                road_piece = on_road[len(on_road) // 2]
                p = pieces[road_piece]
                L = pieces[0].a
                U = pieces[-1].b
                m = ((p.a[0] + p.b[0]) / 2, (p.a[1] + p.b[1]) / 2)
                apex = self._apex(L, U, m, km)
                slow = min(35.0, lim.other_cap - 5)
                track.drive(pieces[:road_piece] + [Piece(p.a, m, p.cls, p.kmh, p.cap), Piece(m, apex, CLS_NONE, slow, slow + 3)],
                            rng)
                track.stop_exactly(60)  # lost: a minute at the farthest point, then back
                return track.drive([Piece(apex, m, CLS_NONE, slow, slow + 3), Piece(m, p.b, p.cls, p.kmh, p.cap)]
                                   + pieces[road_piece + 1:], rng)

            delivery(d0 + rng.uniform(9, 11) * H, modify=detour)
        else:
            raise ValueError(variant)

    @staticmethod
    def _over(pts: dict[str, np.ndarray], first: int, span_s: int, speed: int, shift: int) -> None:
        """Report ``speed`` (0.1 km/h) from point ``first`` for ``span_s`` seconds; with ``shift``
        ±1 the last of those reports comes a second late / early (the terminal's clock), so the
        run spans one second more / less than ``span_s``."""
        t = pts["t"]
        last = int(np.searchsorted(t, t[first] + span_s - abs(shift), side="right")) - 1
        if shift:
            last += 1
            t[last] = t[first] + span_s + shift
            assert t[last - 1] < t[last] < t[last + 1]
        pts["spd"][first: last + 1] = speed

    def _night(self, variant, i, track, bills, rng, park, city, site, cruise) -> None:
        """Out and back on the park's shortest expressway, timed on the reports the pipeline puts
        on the expressway: the last one a minute after / before the night begins (evening), the
        first a minute before / after it ends (morning)."""
        prov = self.world.prov
        d0 = self.day * DAY
        th = params("hazmat.night_ban")
        e = min(park.edges, key=lambda e: prov.edges[e].km)
        ed = prov.edges[e]
        other = ed.b if ed.a == city else ed.a
        far = prov.parks[other].sites[0]
        out = self._inter_leg(site, far, city, other, cruise, rng, conn_kmh=22.0)
        back = self._inter_leg(far, site, other, city, cruise, rng, conn_kmh=22.0)

        def on_expressway(pieces: list[Piece], start: tuple[float, float]) -> np.ndarray:
            probe = Track(0, start, track.interval)
            probe.drive(pieces, np.random.default_rng(0))
            p = probe.arrays()
            cls = np.where(p["cls"] == CLS_NONE, self.world.classify(p["lon"], p["lat"]), p["cls"])
            return p["t"][cls == CLS_EXP]

        if variant.startswith("evening"):
            target = d0 + clock_seconds(th["from"]) + (60 if variant == "evening_late" else -60)
            back_at = target - int(on_expressway(back, self._xy(far))[-1])
            depart = back_at - 50 * 60 - math.ceil(self._duration(out)) - 60
            track.park(depart)
            t1 = track.drive(out, rng)
            bills.append(self._waybill(i, site, far, depart, t1, rng))
            track.idle(back_at)
            t2 = track.drive(back, rng)
            bills.append(self._waybill(i, far, site, back_at, t2, rng))
        else:
            target = d0 + clock_seconds(th["until"]) + (-60 if variant == "morning_early" else 60)
            depart = target - int(on_expressway(out, self._xy(site))[0])
            track.park(depart)
            t1 = track.drive(out, rng)
            bills.append(self._waybill(i, site, far, depart, t1, rng))
            back_at = t1 + rng.uniform(40, 90) * 60
            track.idle(back_at)
            t2 = track.drive(back, rng)
            bills.append(self._waybill(i, far, site, back_at, t2, rng))

    @staticmethod
    def _apex(L, U, m, km: float) -> tuple[float, float]:
        """The point ``km`` from the segment L–U, beside its foot from ``m``."""
        lat0 = (L[1] + U[1]) / 2
        kx = 111.320 * math.cos(math.radians(lat0))
        ky = 110.574
        ux, uy = (U[0] - L[0]) * kx, (U[1] - L[1]) * ky
        mx, my = (m[0] - L[0]) * kx, (m[1] - L[1]) * ky
        norm = math.hypot(ux, uy)
        tx, ty = ux / norm, uy / norm
        t = mx * tx + my * ty
        fx, fy = t * tx, t * ty
        nx, ny = -ty, tx
        side = 1.0 if (mx - fx) * nx + (my - fy) * ny >= 0 else -1.0
        ax, ay = fx + side * nx * km, fy + side * ny * km
        return (L[0] + ax / kx, L[1] + ay / ky)

    def _fatigue(self, variant, i, track, bills, rng, park, city, site) -> None:
        """Back and forth on the park's longest expressway, timed to the rule's params.

        A block is driving between rests; its span (first to last moving report) is set to a
        target by the number of legs, the turnaround stops at the far site (shorter than a rest)
        and the cruising speed. Blocks are separated by stops of an exact length. Defaults:
        4 h 01 / 3 h 59 of continuous driving; 2 h 12 + a 19-min stop + 2 h 12 (one stint);
        3 h 30 + a 21-min rest + 3 h 30 (two); three blocks of 3 h 15 (9 h 45 in the day).
        """
        prov = self.world.prov
        d0 = self.day * DAY
        th = params("hazmat.fatigue")
        cont = float(th["continuous_more_than_h"]) * H
        rest = float(th["rest_stop_at_least_s"])
        blocks = {"continuous_over": [(cont + 60, 0.0)],
                  "continuous_under": [(cont - 60, 0.0)],
                  "short_rest": [(0.55 * cont, rest - 60), (0.55 * cont, 0.0)],
                  "rest_enough": [(cont - 1800, rest + 60), (cont - 1800, 0.0)],
                  "daily_total": [(cont - 2700, rest + 600)] * 3}[variant]
        dt = track.interval
        lo, hi = self.limits.exp_cap - 35, self.limits.exp_cap - 3
        track.park(d0 + 6 * H + 40 * 60)

        def plausible(span: float, here: int, there: int, here_city: int, there_city: int):
            """Legs n and turnaround stop s (shorter than a rest) such that the cruising speed is
            plausible: span = n·fixed + n·cruise_km/cruise + (n − 1)·(s + dt)."""
            probe = self._inter_leg(here, there, here_city, there_city, 70.0, rng, conn_kmh=22.0)
            fixed = sum(self._duration([p]) for p in probe if not (p.cls == CLS_EXP and p.kmh == 70.0))
            cruise_km = sum(float(dist_km(p.a[0], p.a[1], p.b[0], p.b[1])) for p in probe
                            if p.cls == CLS_EXP and p.kmh == 70.0)
            turns = np.arange(600, 60, -30).tolist() + np.arange(630, rest - 90, 30).tolist()
            return _time_block(span, fixed, cruise_km, dt, range(1, 60), turns, lo, hi)

        here, here_city = site, city
        for span, rest_after in blocks:
            best = None
            for e in sorted(prov.parks[here_city].edges, key=lambda e: -prov.edges[e].km):
                # the longest expressway from where the vehicle stands that can be timed to the span
                ed = prov.edges[e]
                other = ed.b if ed.a == here_city else ed.a
                there, there_city = prov.parks[other].sites[0], other
                best = plausible(span, here, there, here_city, there_city)
                if best:
                    break
            assert best is not None, f"no plausible fatigue block of {span} s"
            n, turn, cruise = best
            for leg in range(n):
                depart = track.t
                pieces = self._inter_leg(here, there, here_city, there_city, cruise, rng, conn_kmh=22.0)
                pieces = [Piece(p.a, p.b, p.cls, p.kmh, p.cap, True) if p.cls == CLS_EXP and p.kmh == cruise else p
                          for p in pieces]
                t1 = track.drive(pieces, rng)
                bills.append(self._waybill(i, here, there, depart, t1, rng))
                here, there, here_city, there_city = there, here, there_city, here_city
                if leg < n - 1:
                    track.stop_exactly(turn)
            if rest_after:
                track.stop_exactly(rest_after)

    def _past_midnight(self, variant, i, track, bills, rng, park, city, site) -> None:
        """Back and forth on a 国道/省道 (expressways are closed at night) across midnight, one
        block of continuous driving timed to the rule's limit + 1 min (``midnight_over``) or − 1 min
        (``midnight_under``), half of it either side of midnight: neither date's half fires on its
        own, so the positive fires only on the next date, whose run reads this date's tail as one
        trip (docs/hazmat.md, "Midnight"). The turnaround stops are shorter than a rest and than a
        sensitive stop; an even number of legs brings the vehicle back to its site, where the next
        date's track starts."""
        d0 = self.day * DAY
        th = params("hazmat.fatigue")
        cont = float(th["continuous_more_than_h"]) * H
        span = cont + 60 if variant == "midnight_over" else cont - 60
        road, cust = self._radial_options(park, site)[0]
        conn, dt = 22.0, track.interval
        probe = self._radial_leg(site, city, road, cust, True, 50.0, rng, conn_kmh=conn)
        fixed = self._duration([p for p in probe if p.cls == CLS_NONE])
        road_km = sum(float(dist_km(p.a[0], p.a[1], p.b[0], p.b[1])) for p in probe if p.cls != CLS_NONE)
        longest_turn = min(float(th["rest_stop_at_least_s"]), float(params("hazmat.sensitive_stop")["stop_longer_than_s"])) - 90
        lo, hi = self.limits.other_cap - 25, self.limits.other_cap - 3
        best = _time_block(span, fixed, road_km, dt, range(2, 120, 2), np.arange(120.0, longest_turn, 30.0).tolist(), lo, hi)
        assert best is not None, f"no plausible {variant} block of {span} s on road {road}"
        n, turn, kmh = best
        track.park(math.ceil(d0 + DAY - span / 2 + rng.uniform(-20, 20) * 60))
        here, there = site, cust
        for leg in range(n):
            depart = track.t
            t1 = track.drive(self._radial_leg(site, city, road, cust, leg % 2 == 0, kmh, rng, conn_kmh=conn), rng)
            bills.append(self._waybill(i, here, there, depart, t1, rng))
            here, there = there, here
            if leg < n - 1:
                track.stop_exactly(turn)


def _time_block(span: float, fixed: float, cruise_km: float, dt: float, legs, turns: list[float], lo: float,
                hi: float) -> tuple[int, float, float] | None:
    """A block of driving timed to ``span`` seconds: the first number of legs n (of ``legs``) and
    turnaround stop s (of ``turns``) whose cruising speed lies in [lo, hi] km/h, with
    span = n·fixed + n·cruise_km/cruise + (n − 1)·(s + dt); (n, s, cruise), or None."""
    for n in legs:
        for s in turns:
            avail = span - n * fixed - (n - 1) * (s + dt)
            if avail > 0 and lo <= n * cruise_km / avail * H <= hi:
                return n, float(s), n * cruise_km / avail * H
    return None

# ---------------------------------------------------------------------------------------------
# Deliveries and truth of a day
# ---------------------------------------------------------------------------------------------

def gps_text(world: HazmatWorld, vday: VehicleDay, dates: DateTable, noise: dict, rng) -> tuple[str, int]:
    v = world.vehicles[vday.vehicle]
    p = vday.points
    n = len(p["t"])
    if n == 0:
        return "", 0
    order = np.arange(n, dtype=np.float64)
    late = rng.random(n) < noise["gps_out_of_order"]
    order[late] += rng.uniform(1.5, 12, late.sum())
    dup = np.flatnonzero(rng.random(n) < noise["gps_duplicates"])
    idx = np.concatenate([np.arange(n), dup])
    keys = np.concatenate([order, dup + rng.uniform(0.5, 20, len(dup))])
    idx = idx[np.argsort(keys, kind="stable")]
    ts = dates.timestamps(p["t"][idx], "bcd")
    lon = np.round(p["lon"][idx] * 1e6).astype(np.int64).tolist()
    lat = np.round(p["lat"][idx] * 1e6).astype(np.int64).tolist()
    spd = p["spd"][idx]
    alarm = np.where(spd > 800, 1 << 1, 0)  # the terminal's own over-speed bit (80 km/h everywhere)
    status = np.where(spd > 0, 3, 2)
    rows = [f"{v.plate},{v.colour},{t},{x},{y},{s},{h},{a},{st}" for t, x, y, s, h, a, st in
            zip(ts, lon, lat, spd.tolist(), p["hdg"][idx].tolist(), alarm.tolist(), status.tolist(), strict=True)]
    return "\n".join(rows) + "\n", len(rows)


def waybill_lines(world: HazmatWorld, vday: VehicleDay, dates: DateTable, noise: dict, rng) -> tuple[list[str], list]:
    v = world.vehicles[vday.vehicle]
    prov = world.prov
    lines, records = [], []
    for b in vday.delivered_waybills:
        d = v.driver
        e = v.escort
        d_cert = _role_cert(d, CT_HAZMAT_DRIVER)
        ids_true = [d["id18"]] + ([e["id18"]] if e else [])
        written, damage = damage_ids(ids_true, rng, noise)
        obj = {
            "waybillNo": b.no, "plateNo": v.plate, "driverIdCard": written[0], "driverCertNo": d_cert,
            "escortIdCard": written[1] if e else None, "escortCertNo": _role_cert(e, CT_HAZMAT_ESCORT) if e else None,
            "unNo": "UN" + b.un[0], "goodsName": b.un[1], "hazardClass": b.un[2], "quantityKg": b.kg,
            "loadAddressCode": prov.special[b.load].code, "unloadAddressCode": prov.special[b.unload].code,
            "planDepartTime": dates.timestamps(np.array([b.depart]), "iso")[0],
            "planArriveTime": dates.timestamps(np.array([b.arrive]), "iso")[0], "status": b.status,
        }
        lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        records.append(("waybills", b.no, "driver", ids_true[0], damage[0]))
        if e:
            records.append(("waybills", b.no, "escort", ids_true[1], damage[1]))
    return lines, records


def _role_cert(member: dict | None, ctype: int) -> str | None:
    """The certificate number a crew member shows on a waybill (the role's, else any)."""
    if not member or not member["certs"]:
        return None
    for c in member["certs"]:
        if c["cert_type"] == ctype:
            return c["cert_no"]
    return member["certs"][0]["cert_no"]


def _active(member: dict | None, ctype: int, day: int) -> bool:
    return bool(member) and any(c["cert_type"] == ctype and c["status"] == CS_ACTIVE and c["valid_until"] >= day
                                for c in member["certs"])


def _at_risk(member: dict | None, day: int) -> bool:
    if not member:
        return False
    m = member.get("mental")
    d = member.get("drug")
    # A crew member "at risk" is a registry hit as for transport workers (worker.at_risk).
    c = condition("worker.at_risk")
    return bool((m is not None and c.mental(np.array([m[0]]), np.array([m[1]]))[0])
                or (d is not None and c.drugs(np.array([d[0]]), np.array([d[1]]), np.array([d[2]]), day)[0]))


def _runs(mask: np.ndarray, key: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(first, last) indices of runs of True (a change of ``key`` starts a new run)."""
    if not mask.any():
        return []
    start = mask.copy()
    cont = mask[:-1] if key is None else mask[:-1] & (key[1:] == key[:-1])
    start[1:] &= ~cont
    ids = np.cumsum(start)[mask]
    idx = np.flatnonzero(mask)
    lasts = idx[np.append(np.flatnonzero(np.diff(ids)), len(ids) - 1)]
    return list(zip(np.flatnonzero(start).tolist(), lasts.tolist(), strict=True))


def visible(vday: VehicleDay, prev: VehicleDay | None) -> tuple[dict[str, np.ndarray], list[Waybill]]:
    """The clean reports and waybills a run of the day sees: its delivery and the day before's
    (one per time: a vehicle's clean reports never share a second)."""
    days = [vday] if prev is None else [prev, vday]
    pts = {k: np.concatenate([d.points[k] for d in days]) for k in vday.points}
    order = np.argsort(pts["t"], kind="stable")
    seen: dict[str, Waybill] = {}
    for d in days:
        for b in d.delivered_waybills:
            seen[b.no] = b
    return {k: a[order] for k, a in pts.items()}, list(seen.values())


def day_flags(world: HazmatWorld, vday: VehicleDay, prev: VehicleDay | None, day: int,
              places: tuple[np.ndarray, np.ndarray]) -> list:
    """The hazmat flags of the vehicle on ``day``, as the rules read them (module docstring), on
    what the day's run sees (:func:`visible`): an episode counts when it overlaps the day."""
    v = world.vehicles[vday.vehicle]
    prov = world.prov
    p, bills = visible(vday, prev)
    t, spd, cls = p["t"], p["spd"], p["cls"]
    d0, d1 = day * DAY, (day + 1) * DAY
    flags = []
    plate = v.plate

    def flag(rule: str, detail: str) -> None:
        flags.append((rule, "vehicle", plate, detail))

    def today(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(a, z) for a, z in runs if t[z] >= d0 and t[a] < d1]

    valid = [b for b in bills if b.status != "cancelled"]
    # No waybill (speeds are in tenths of km/h).
    th = params("hazmat.no_waybill")
    covered = np.zeros(len(t), bool)
    for b in valid:
        covered |= (t >= b.depart) & (t <= b.arrive)
    for a, z in today(_runs((spd > round(10 * th["moving_above_kmh"])) & ~covered)):
        if t[z] - t[a] > th["longer_than_s"]:
            flag("hazmat.no_waybill", f"moving {(t[z] - t[a]) / 60:.0f} min without a waybill")
            break
    # Crew: the waybills planned to depart on the day.
    planned = [b for b in vday.waybills if b.status != "cancelled" and d0 <= b.depart < d1]
    for b in planned:
        problems = []
        if not _active(v.driver, CT_HAZMAT_DRIVER, day):
            problems.append("driver without an active hazmat driver qualification")
        if v.escort is None:
            problems.append("no escort")
        elif not _active(v.escort, CT_HAZMAT_ESCORT, day):
            problems.append("escort without an active escort qualification")
        if problems:
            flag("hazmat.crew_unqualified", f"waybill {b.no}: " + "; ".join(problems))
            break
    for b in planned:
        if _at_risk(v.driver, day) or _at_risk(v.escort, day):
            flag("hazmat.crew_at_risk", f"waybill {b.no}: crew member with a registry hit")
            break
    # Fatigue: stints between rests (first to last moving report) overlapping the day; moving
    # time of the day = the intervals from a moving report of the day to the next, also moving.
    th = params("hazmat.fatigue")
    stopped = spd == 0
    rest = np.zeros(len(t), bool)
    for a, z in _runs(stopped):
        if t[z] - t[a] >= th["rest_stop_at_least_s"]:
            rest[a: z + 1] = True
    longest = 0
    for a, z in _runs(~rest):
        moving = a + np.flatnonzero(spd[a: z + 1] > 0)
        if len(moving) and t[moving[-1]] >= d0 and t[moving[0]] < d1:
            longest = max(longest, int(t[moving[-1]] - t[moving[0]]))
    pairs = (spd[:-1] > 0) & (spd[1:] > 0) & (t[:-1] >= d0) & (t[:-1] < d1)
    moving_time = int(np.diff(t)[pairs].sum()) if len(t) > 1 else 0
    if longest > th["continuous_more_than_h"] * H or moving_time > th["daily_more_than_h"] * H:
        flag("hazmat.fatigue", f"longest continuous driving {longest / H:.2f} h, {moving_time / H:.2f} h in the day")
    # Speeding: a run keeps one limit.
    th = params("hazmat.speeding")
    expressway = np.isin(cls, codes(th["expressway_classes"], ROAD_CLASSES, "hazmat.speeding.expressway_classes"))
    limit = np.where(expressway, round(10 * th["expressway_limit_kmh"]), round(10 * th["other_limit_kmh"]))
    for a, z in today(_runs(spd > limit, limit)):
        if t[z] - t[a] >= th["at_least_s"]:
            flag("hazmat.speeding", f"{spd[a:z + 1].max() / 10:.0f} km/h for {t[z] - t[a]} s")
            break
    # Night ban.
    th = params("hazmat.night_ban")
    banned = codes(th["road_classes"], ROAD_CLASSES, "hazmat.night_ban.road_classes")
    sod = t % DAY
    night = np.isin(cls, banned) & ((sod >= clock_seconds(th["from"])) | (sod < clock_seconds(th["until"])))
    runs = today(_runs(night))
    if runs:
        flag("hazmat.night_ban", f"on an expressway at night ({sum(z - a + 1 for a, z in runs)} points)")
    # Sensitive stop: stopped within the distance of one place (the nearest) for longer than the limit.
    th = params("hazmat.sensitive_stop")
    plon, plat = places
    near = np.full(len(t), -1)
    nearest_m = np.full(len(t), np.inf)
    if stopped.any() and len(plon):
        xy = np.stack([p["lon"][stopped], p["lat"][stopped]], axis=1)
        spots, back = np.unique(xy, axis=0, return_inverse=True)
        d = dist_km(spots[:, :1], spots[:, 1:], plon[None, :], plat[None, :]) * 1000
        j = np.argmin(d, axis=1)
        dj = d[np.arange(len(spots)), j]
        near[stopped] = np.where(dj <= th["within_m"], j, -1)[back.ravel()]
        nearest_m[stopped] = dj[back.ravel()]
    for a, z in today(_runs(near >= 0, near)):
        if t[z] - t[a] > th["stop_longer_than_s"]:
            flag("hazmat.sensitive_stop", f"stopped {(t[z] - t[a]) / 60:.0f} min {nearest_m[a]:.0f} m from a sensitive place")
            break
    # Route deviation: a report inside a waybill's window judged against the nearest corridor.
    far = params("hazmat.route_deviation")["more_than_km"]
    off = np.full(len(t), np.inf)
    for b in valid:
        inside = (t >= b.depart) & (t <= b.arrive)
        if inside.any():
            L, U = prov.special[b.load], prov.special[b.unload]
            off[inside] = np.minimum(off[inside], point_segment_km(p["lon"][inside], p["lat"][inside], L.lon, L.lat,
                                                                   U.lon, U.lat))
    runs = today(_runs(np.isfinite(off) & (off > far)))
    if runs:
        worst = max(float(off[a: z + 1].max()) for a, z in runs)
        flag("hazmat.route_deviation", f"{worst:.1f} km from the load–unload corridor")
    return flags


# ---------------------------------------------------------------------------------------------
# Hourly deliveries (docs/hazmat.md, "Hourly deliveries")
# ---------------------------------------------------------------------------------------------

#: Share of GPS reports that reach the platform only in the next hour's file (a terminal out of
#: coverage forwards its buffer later). Never more than one hour late: the contract.
LATE_HOUR_SHARE = 0.02


def delivery_hour(dataset: str, line: str, day: dt.date) -> int:
    """The hour of ``day`` a row is delivered in when nothing is late: a GPS report in the hour it
    was taken; a waybill in the hour one hour before its planned departure (filed before the
    vehicle leaves), the first hour for one planned before the day, the last for one after it."""
    if dataset == "gps_points":
        stamp = line.split(",", 3)[2]  # 定位时间 yyMMddHHmmss; plates and colours hold no comma
        return int(stamp[6:8]) if stamp[:6] == f"{day:%y%m%d}" else 0
    depart = dt.datetime.fromisoformat(json.loads(line)["planDepartTime"]).replace(tzinfo=None)
    filed = depart - dt.timedelta(hours=1)
    return 0 if filed.date() < day else 23 if filed.date() > day else filed.hour


def split_hourly(inbox: Path, dataset: str, day: dt.date, seed: int, late_share: float = LATE_HOUR_SHARE,
                 chunk_rows: int = 200_000) -> list[Path]:
    """Rewrite the day's delivery of ``dataset`` as 24 hourly parts ``<dataset>_<YYYYMMDDHH>.<ext>``,
    each followed by its ``manifest_HH.json``, and the day's ``manifest.json`` listing all of them
    (the daily run reads exactly their union: the same rows as the daily file, in the same order
    inside each hour). ``late_share`` of the GPS reports (never of hour 23) go into the next hour's
    part. Deterministic for ``seed``. Returns the manifests written, the day's last.

    Streams: ``chunk_rows`` lines at a time go from the day's files to the 24 parts (written as
    the generator writes every delivery, :class:`.output.Delivery`), so a province's day — 60 M
    reports at 23,000 vehicles — never sits in memory as a list of lines."""
    import gzip
    import io
    from itertools import islice

    from gridrisk.config import load_schema
    from gridrisk.delivery import MANIFEST, delivery_folder, write_manifest

    from .output import Delivery

    schema = load_schema(dataset)
    folder = delivery_folder(inbox, dataset, day)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    gz = schema.format == "csv.gz"
    sources = [folder / entry["name"] for entry in manifest["files"]]

    def lines(path: Path) -> io.TextIOWrapper:
        raw = gzip.open(path, "rb") if gz and path.stat().st_size else open(path, "rb")
        return io.TextIOWrapper(raw, encoding=schema.encoding, newline=None)

    header: str | None = None
    if schema.format != "jsonl":
        for path in sources:
            with lines(path) as f:
                first = f.readline()
            if first:
                header = first.rstrip("\n")
                break
        header = header if header is not None else ",".join(schema.source_names)
    stamp = f"{day:%Y%m%d}"
    parts = [Delivery(folder, f"{schema.file_prefix}_{stamp}{h:02d}", schema.format, encoding=schema.encoding,
                      header=header, max_rows=1 << 62, gzip=gz) for h in range(24)]
    rng = stream(seed, "hourly", dataset, day.toordinal()) if dataset == "gps_points" else None
    for path in sources:
        with lines(path) as f:
            if header is not None:
                f.readline()
            while chunk := [ln.rstrip("\n") for ln in islice(f, chunk_rows)]:
                rows = [ln for ln in chunk if ln]
                hours = np.array([delivery_hour(dataset, ln, day) for ln in rows], dtype=np.int64)
                if rng is not None and rows:
                    hours = np.where((rng.random(len(rows)) < late_share) & (hours < 23), hours + 1, hours)
                for h in np.unique(hours):
                    mine = [rows[i] for i in np.flatnonzero(hours == h)]
                    parts[int(h)].write("\n".join(mine) + "\n", len(mine))
    for path in sources:
        path.unlink()
    written: list[Path] = []
    files = []
    for h, part in enumerate(parts):
        [file] = part.close()
        files.append(file)
        written.append(write_manifest(folder, dataset, day, schema.kind, [file], hour=h))
    written.append(write_manifest(folder, dataset, day, schema.kind, files))
    return written

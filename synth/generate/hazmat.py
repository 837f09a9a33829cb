"""Hazmat enterprises, vehicles, crews, daily trajectories (JT/T 808 points) and e-waybills.

Vehicles live at chemical parks (geo.py). A day of a vehicle is a list of legs, each a chain of
straight pieces with a road class and a speed: site → interchange ``I`` → expressway → the other
park's ``I`` → site, or site → ``S`` → 国道/省道 → customer. Every leg an ambient vehicle drives
is covered by a waybill whose plan window opens 5–30 min before departure and closes 10–40 min
after arrival; ambient legs stay on expressways only between 06:30 and 21:30, never exceed
78 km/h on expressways or 58 km/h elsewhere, last < 3.5 h with ≥ 30 min stops between them
and < 7 h a day, stop only at sites (never near a sensitive place) and stay within 1 km of the
straight line between load and unload sites.

Truth, per plate and date, on the clean points of that date (before duplicates/shuffling), with
the thresholds of the params of conf/rules/hazmat.yaml (:func:`.thresholds.params`; the numbers
below are its defaults):

* no waybill: a run of consecutive points moving faster than 5 km/h, none covered by the
  plan window of a non-cancelled waybill of the plate, spanning more than 5 min;
* crew not qualified / at risk: a non-cancelled waybill whose driver has no active 危险货物运输驾驶员
  qualification, whose escort has no active 危险货物运输押运人员 one, or has no escort; a driver or
  escort with a mental or drug condition (truth.py);
* fatigue: between rests (stops of ≥ 20 min, first to last zero-speed point) the span from the
  first to the last moving point exceeds 4 h, or the moving time of the day exceeds 8 h;
* speeding: consecutive points above the limit of their road (80 km/h on 高速, 60 elsewhere)
  spanning ≥ 30 s;
* night ban: any point on a 高速 between 22:00 and 06:00;
* sensitive stop: a stop (zero speed) spanning more than 10 min within 200 m of a place;
* route deviation: a point inside a non-cancelled waybill's window more than 2 km from the
  segment between its load and unload sites.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .geo import CITIES, Province, along, bearing_deg, dist_km, lerp, point_segment_km, stream
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
DAY_CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hazmat.no_waybill": (("no_waybill", "cancelled_waybill"), ("short_move", "creep")),
    "hazmat.fatigue": (("continuous", "daily_total"), ("rest_20min",)),
    "hazmat.speeding": (("expressway_90", "national_70"), ("expressway_80", "national_60", "burst_10s")),
    "hazmat.night_ban": (("evening", "morning"), ("national_night", "expressway_edges")),
    "hazmat.sensitive_stop": (("stop_25min",), ("stop_8min", "stop_320m")),
    "hazmat.route_deviation": (("detour_5km",), ("detour_1_6km",)),
}
CLS_NONE, CLS_EXP, CLS_NAT, CLS_PROV, CLS_CITY = range(5)
#: The road class of each code, as roads_*.geojson and the rules name them (CLS_NONE: off-road).
ROAD_CLASSES = ("", "高速", "国道", "省道", "城市道路")
#: Scenarios that drive a radial road (they start the day at a site with a good delivery).
RADIAL_VARIANTS = ("cancelled_waybill", "short_move", "creep", "national_70", "national_60", "national_night",
                   "detour_5km", "detour_1_6km")
H = 3600
COLOURS = ("黄", "黄绿", "蓝")
VEHICLE_TYPES = ("罐式", "厢式", "栏板", "牵引车", "挂车")


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
    """The clean points of one vehicle on one day."""

    def __init__(self, t0: int, pos: tuple[float, float], interval: int) -> None:
        self.t = float(t0)
        self.pos = pos
        self.interval = interval
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "lon", "lat", "spd", "hdg", "cls")}
        self.heading = 0

    def _add(self, t, lon, lat, spd, hdg, cls) -> None:
        for k, v in (("t", t), ("lon", lon), ("lat", lat), ("spd", spd), ("hdg", hdg), ("cls", cls)):
            self.cols[k].append(np.asarray(v))

    def park(self, until: float) -> None:
        """Stand still (a report every 5 min) until ``until``."""
        ts = np.arange(self.t, until, 300.0)
        n = len(ts)
        if n:
            self._add(ts, np.full(n, self.pos[0]), np.full(n, self.pos[1]), np.zeros(n), np.full(n, self.heading),
                      np.zeros(n))
        self.t = max(self.t, until)

    def drive(self, pieces: list[Piece], rng: np.random.Generator, interval: int | None = None) -> float:
        """Drive the pieces from now; returns the arrival time."""
        dt = interval or self.interval
        lengths = np.array([float(dist_km(p.a[0], p.a[1], p.b[0], p.b[1])) for p in pieces])
        durs = lengths / np.array([p.kmh for p in pieces]) * H
        bounds = self.t + np.cumsum(durs)
        starts = bounds - durs
        ts = np.arange(self.t, bounds[-1], float(dt))
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

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.cols.items()}
        out["t"] = np.floor(out["t"]).astype(np.int64)
        out["spd"] = out["spd"].astype(np.int64)
        out["hdg"] = out["hdg"].astype(np.int64)
        out["cls"] = out["cls"].astype(np.int8)
        return out


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

    # -- a day ------------------------------------------------------------------------------------
    def plan_day(self, day: int, scenarios: list[tuple[str, str]]) -> "Day":
        """Plan every vehicle's day; ``scenarios`` go to distinct vehicles with clean crews."""
        rng = stream(self.seed, "hazmat-day", day)
        clean = [i for i, v in enumerate(self.vehicles) if v.crew_variant == "ambient"]
        chosen = rng.choice(clean, size=len(scenarios), replace=False).tolist() if scenarios else []
        assigned = dict(zip(chosen, scenarios, strict=True))
        plans = Day(self, day)
        for i in range(len(self.vehicles)):
            vr = stream(self.seed, "hazmat-vehicle", day, i)
            plans.plan(i, assigned.get(i), vr)
        return plans


@dataclass
class VehicleDay:
    vehicle: int
    points: dict[str, np.ndarray]
    waybills: list[Waybill]
    scenario: tuple[str, str] | None


@dataclass
class Day:
    world: HazmatWorld
    day: int
    vehicles: list[VehicleDay] = field(default_factory=list)
    _counter: int = 0

    # -- geometry helpers ---------------------------------------------------------------------------
    def _xy(self, special: int) -> tuple[float, float]:
        s = self.world.prov.special[special]
        return (s.lon, s.lat)

    def _connector(self, a, b, rng, kmh: float | None = None) -> list[Piece]:
        return [Piece(a, b, CLS_NONE, kmh or float(rng.uniform(18, 28)), 30)]

    def _expressway(self, I_a, I_b, cruise: float) -> list[Piece]:
        length = float(dist_km(I_a[0], I_a[1], I_b[0], I_b[1]))
        p1 = lerp(I_a, I_b, 2.0 / length)
        p2 = lerp(I_a, I_b, 1 - 2.0 / length)
        return [Piece(I_a, p1, CLS_EXP, 45, 50), Piece(p1, p2, CLS_EXP, cruise, 78), Piece(p2, I_b, CLS_EXP, 45, 50)]

    def _inter_leg(self, site_a: int, site_b: int, city_a: int, city_b: int, cruise: float, rng,
                   conn_kmh: float | None = None) -> list[Piece]:
        prov = self.world.prov
        Ia, Ib = prov.parks[city_a].interchange, prov.parks[city_b].interchange
        return (self._connector(self._xy(site_a), Ia, rng, conn_kmh) + self._expressway(Ia, Ib, cruise)
                + self._connector(Ib, self._xy(site_b), rng, conn_kmh))

    def _radial_leg(self, site: int, city: int, road: int, customer: int, out: bool, kmh: float, rng) -> list[Piece]:
        prov = self.world.prov
        park = prov.parks[city]
        a, b = prov.roads[road].coords
        cls = CLS_NAT if prov.roads[road].road_class == "国道" else CLS_PROV
        pieces = self._connector(self._xy(site), park.S, rng) + [Piece(a, b, cls, kmh, 58)] + \
            self._connector(b, self._xy(customer), rng)
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
    def plan(self, i: int, scenario: tuple[str, str] | None, rng: np.random.Generator) -> None:
        w = self.world
        prov = w.prov
        v = w.vehicles[i]
        d0 = self.day * 86400
        city = v.city
        site = v.site
        variant = scenario[1] if scenario else None
        park = prov.parks[city]
        # A scenario on a radial road starts the day at a site with a good delivery from it (for
        # the sensitive-stop ones: in the park whose road has the planted place).
        day_pair: tuple[int, int, int] | None = None  # (road, site, customer)
        self._slot = None
        if variant in ("stop_25min", "stop_8min", "stop_320m"):
            kind = {"stop_25min": "pos", "stop_8min": "nm_short", "stop_320m": "nm_far"}[variant]
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
        interval = 10 if variant in ("burst_10s", "expressway_90", "national_70") else v.interval
        track = Track(d0 + int(rng.integers(0, 300)), self._xy(site), interval)
        bills: list[Waybill] = []

        def leg_out_and_back_inter(depart: float, cruise: float, edge: int | None = None, unload_min=(35, 90),
                                   bill_status=("arrived", "arrived")) -> tuple[float, int, int]:
            e = edge if edge is not None else park.edges[int(rng.integers(0, len(park.edges)))]
            ed = prov.edges[e]
            other = ed.b if ed.a == city else ed.a
            far = prov.parks[other].sites[int(rng.integers(0, len(prov.parks[other].sites)))]
            track.park(depart)
            out = self._inter_leg(site, far, city, other, cruise, rng)
            t1 = track.drive(out, rng)
            bills.append(self._waybill(i, site, far, depart, t1, rng, bill_status[0]))
            back_at = t1 + rng.uniform(*unload_min) * 60
            track.park(back_at)
            t2 = track.drive(self._inter_leg(far, site, other, city, cruise, rng), rng)
            bills.append(self._waybill(i, far, site, back_at, t2, rng, bill_status[1]))
            return t2, other, far

        def delivery(depart: float, kmh: float | None = None, modify=None,
                     status=("arrived", "arrived")) -> float | None:
            """Load at the site, deliver along a radial road, come back (None: no good customer)."""
            if day_pair is not None:
                road, _, cust = day_pair
            else:
                options = [(r, c) for r in (park.national, park.provincial) for s_, c in park.pairs[r] if s_ == site]
                if not options:
                    return None
                road, cust = options[int(rng.integers(0, len(options)))]
            speed = kmh or float(rng.uniform(42, 55))
            track.park(depart)
            pieces = self._radial_leg(site, city, road, cust, True, speed, rng)
            if modify is not None:
                t1 = modify(pieces)
            else:
                t1 = track.drive(pieces, rng)
            bills.append(self._waybill(i, site, cust, depart, t1, rng, status[0]))
            back_at = t1 + rng.uniform(35, 70) * 60
            track.park(back_at)
            t2 = track.drive(self._radial_leg(site, city, road, cust, False, speed, rng), rng)
            bills.append(self._waybill(i, cust, site, back_at, t2, rng, status[1]))
            return t2

        cruise = float(rng.uniform(66, 76))
        if variant is None:
            self._ambient_day(i, track, bills, rng, park, city, site, leg_out_and_back_inter, delivery, cruise)
        else:
            self._scenario_day(variant, i, track, bills, rng, park, city, site, leg_out_and_back_inter, delivery, cruise)
        track.park(d0 + 86400)
        pts = track.arrays()
        keep = pts["t"] < d0 + 86400
        pts = {k: a[keep] for k, a in pts.items()}
        self.vehicles.append(VehicleDay(i, pts, bills, scenario))

    def _ambient_day(self, i, track, bills, rng, park, city, site, inter, delivery, cruise) -> None:
        d0 = self.day * 86400
        w = self.world
        v = w.vehicles[i]
        u = rng.random()
        if u < 0.1 and v.crew_variant == "ambient":
            return  # an idle day at the depot
        t = d0 + rng.uniform(6.7, 9.0) * H
        trips = 1 if u < 0.45 else 2
        driven = 0.0
        for _ in range(trips):
            if rng.random() < 0.6:
                e = park.edges[int(rng.integers(0, len(park.edges)))]
                ed = w.prov.edges[e]
                leg = ed.km / cruise * H + 0.5 * H
                if t + 2 * leg + 1.6 * H > d0 + 21.4 * H or driven + 2 * leg > 7 * H:
                    continue
                end, _, _ = inter(t, cruise, edge=e)
            else:
                if t + 3 * H > d0 + 23 * H:
                    continue
                end = delivery(t)
                if end is None:
                    continue
            driven += end - t
            t = end + rng.uniform(40, 120) * 60
        if not bills and v.crew_variant != "ambient":  # vehicles with planted crews always work
            if delivery(d0 + 9 * H) is None:
                inter(d0 + 9 * H, cruise)
        if rng.random() < 0.02:  # a waybill created for a trip late tonight that never started
            late = d0 + rng.uniform(23.3, 23.6) * H
            cust = park.customers[0]
            bills.append(self._waybill(i, site, cust, late, late + 2 * H, rng, "created"))

    def _scenario_day(self, variant, i, track, bills, rng, park, city, site, inter, delivery, cruise) -> None:
        d0 = self.day * 86400
        w = self.world
        prov = w.prov
        if variant == "no_waybill":  # half an hour along the radial road and back, no waybill
            road = park.national
            a, b = prov.roads[road].coords
            plon = np.array([q.lon for q in prov.places])
            plat = np.array([q.lat for q in prov.places])
            prad = np.array([q.radius_m for q in prov.places])
            for f in np.linspace(0.9, 0.3, 25):  # turn where no place is anywhere near
                mid = lerp(a, b, float(f))
                if np.all(dist_km(mid[0], mid[1], plon, plat) * 1000 - prad > 1000):
                    break
            track.park(d0 + rng.uniform(13, 15) * H)
            track.drive(self._connector(self._xy(site), park.S, rng) + [Piece(a, mid, CLS_NAT, 45, 58)], rng)
            track.park(track.t + 3 * 60)
            track.drive([Piece(mid, a, CLS_NAT, 45, 58)] + self._connector(park.S, self._xy(site), rng), rng)
        elif variant == "cancelled_waybill":
            delivery(d0 + rng.uniform(9, 11) * H, status=("cancelled", "arrived"))
        elif variant in ("short_move", "creep"):
            toward = along(self._xy(site), bearing_deg(self._xy(site), park.interchange), 0.8)
            track.park(d0 + rng.uniform(10, 12) * H)
            if variant == "short_move":  # 0.8 km at 18 km/h: 2.7 min, twice, 30 min apart
                track.drive([Piece(self._xy(site), toward, CLS_NONE, 18, 30)], rng)
                track.park(track.t + 30 * 60)
                track.drive([Piece(toward, self._xy(site), CLS_NONE, 18, 30)], rng)
            else:  # queueing at the gate: exactly 5.0 km/h for 19 min
                track.drive([Piece(self._xy(site), toward, CLS_NONE, 5.0, 5.0, True),
                             Piece(toward, self._xy(site), CLS_NONE, 5.0, 5.0, True)], rng)
            delivery(d0 + rng.uniform(14, 15) * H)
        elif variant in ("continuous", "daily_total", "rest_20min"):
            self._fatigue(variant, i, track, bills, rng, park, city, site)
        elif variant in ("expressway_90", "expressway_80", "burst_10s"):
            start = len(track.cols["t"])
            inter(d0 + rng.uniform(8, 10) * H, cruise)
            pts = {k: np.concatenate(v[start:]) for k, v in track.cols.items()}
            on_exp = np.flatnonzero(pts["cls"] == CLS_EXP)
            mid = on_exp[len(on_exp) // 4]
            span = {"expressway_90": 120, "expressway_80": 300, "burst_10s": 10}[variant]
            speed = {"expressway_90": 900, "expressway_80": 800, "burst_10s": 880}[variant]
            sel = (pts["t"] >= pts["t"][mid]) & (pts["t"] <= pts["t"][mid] + span) & (pts["cls"] == CLS_EXP)
            self._set_speed(track, start, sel, speed)
        elif variant in ("national_70", "national_60"):
            start = len(track.cols["t"])
            delivery(d0 + rng.uniform(9, 11) * H)
            pts = {k: np.concatenate(v[start:]) for k, v in track.cols.items()}
            on_road = np.flatnonzero((pts["cls"] == CLS_NAT) | (pts["cls"] == CLS_PROV))
            mid = on_road[len(on_road) // 4]
            span = 90 if variant == "national_70" else 300
            sel = (pts["t"] >= pts["t"][mid]) & (pts["t"] <= pts["t"][mid] + span) & (pts["cls"] == pts["cls"][mid])
            self._set_speed(track, start, sel, 700 if variant == "national_70" else 600)
        elif variant == "evening" and min(prov.edges[e].km for e in park.edges) / cruise < 1.3:
            # Out in the evening, back on the expressway from 22:05 (home before midnight).
            e = min(park.edges, key=lambda e: prov.edges[e].km)
            ed = prov.edges[e]
            other = ed.b if ed.a == city else ed.a
            far = prov.parks[other].sites[0]
            out = self._inter_leg(site, far, city, other, cruise, rng)
            depart = d0 + 21 * H - self._duration(out)
            track.park(depart)
            t1 = track.drive(out, rng)
            bills.append(self._waybill(i, site, far, depart, t1, rng))
            back_at = d0 + 22 * H + 5 * 60
            track.park(back_at)
            t2 = track.drive(self._inter_leg(far, site, other, city, cruise, rng), rng)
            bills.append(self._waybill(i, far, site, back_at, t2, rng))
        elif variant in ("morning", "evening"):  # evening trips from parks far from everyone go early
            inter(d0 + rng.uniform(3.6, 4.2) * H, cruise, unload_min=(150, 180))
        elif variant == "national_night":
            delivery(d0 + rng.uniform(22.1, 22.3) * H)
        elif variant == "expressway_edges":
            e = min(park.edges, key=lambda e: prov.edges[e].km)
            ed = prov.edges[e]
            other = ed.b if ed.a == city else ed.a
            far = prov.parks[other].sites[0]
            # Leave the site at 06:02 (on the expressway from about 06:05) …
            depart = d0 + 6 * H + 120
            track.park(depart)
            t1 = track.drive(self._inter_leg(site, far, city, other, cruise, rng), rng)
            bills.append(self._waybill(i, site, far, depart, t1, rng))
            # … and come back so as to leave the expressway at 21:50.
            back = self._inter_leg(far, site, other, city, cruise, rng)
            on_exp = sum(self._duration([p]) for p in back if p.cls == CLS_EXP)
            first_conn = self._duration(back[:1])
            back_at = d0 + 21 * H + 50 * 60 - on_exp - first_conn
            track.park(max(back_at, t1 + 30 * 60))
            t2 = track.drive(back, rng)
            bills.append(self._waybill(i, far, site, back_at, t2, rng))
        elif variant in ("stop_25min", "stop_8min", "stop_320m"):
            slot = self._slot
            minutes = 8 if variant == "stop_8min" else (25 if variant == "stop_25min" else 30)

            def stop_on_road(pieces: list[Piece]) -> float:
                road_piece = next(j for j, p in enumerate(pieces) if p.cls in (CLS_NAT, CLS_PROV))
                p = pieces[road_piece]
                stop = (slot.lon, slot.lat)
                before = pieces[:road_piece] + [Piece(p.a, stop, p.cls, p.kmh, p.cap)]
                after = [Piece(stop, p.b, p.cls, p.kmh, p.cap)] + pieces[road_piece + 1:]
                track.drive(before, rng)
                track.park(track.t + minutes * 60 + 1)
                return track.drive(after, rng)

            delivery(d0 + rng.uniform(9, 11) * H, modify=stop_on_road)
        elif variant in ("detour_5km", "detour_1_6km"):
            km = 5.0 if variant == "detour_5km" else 1.6

            def detour(pieces: list[Piece]) -> float:
                road_piece = next(j for j, p in enumerate(pieces) if p.cls in (CLS_NAT, CLS_PROV))
                p = pieces[road_piece]
                L = pieces[0].a
                U = pieces[-1].b
                m = ((p.a[0] + p.b[0]) / 2, (p.a[1] + p.b[1]) / 2)
                apex = self._apex(L, U, m, km)
                chain = (pieces[:road_piece] + [Piece(p.a, m, p.cls, p.kmh, p.cap), Piece(m, apex, CLS_NONE, 35, 40),
                                                 Piece(apex, m, CLS_NONE, 35, 40), Piece(m, p.b, p.cls, p.kmh, p.cap)]
                         + pieces[road_piece + 1:])
                return track.drive(chain, rng)

            delivery(d0 + rng.uniform(9, 11) * H, modify=detour)
        else:
            raise ValueError(variant)

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

    def _set_speed(self, track: Track, start: int, sel: np.ndarray, speed: int) -> None:
        """Overwrite the reported speed of the selected points of the legs added since ``start``."""
        offset = 0
        for j in range(start, len(track.cols["t"])):
            n = len(track.cols["t"][j])
            part = sel[offset: offset + n]
            if part.any():
                s = np.array(track.cols["spd"][j], dtype=float)
                s[part] = speed
                track.cols["spd"][j] = s
            offset += n

    def _fatigue(self, variant, i, track, bills, rng, park, city, site) -> None:
        """Back and forth on the park's longest expressway, timed to the rule's thresholds.

        A block is driving between rests; its span (first to last moving point) is set to a target
        by choosing the number of legs and the cruising speed. Turnarounds at the far site are
        short stops (< 20 min) and do not end a block.
        """
        prov = self.world.prov
        d0 = self.day * 86400
        e = max(park.edges, key=lambda e: prov.edges[e].km)
        ed = prov.edges[e]
        other = ed.b if ed.a == city else ed.a
        far = prov.parks[other].sites[0]
        # (span target, turnaround minutes, rest minutes after the block)
        blocks = {"continuous": [(5 * H + 15 * 60, 10, 0)],
                  "daily_total": [(3 * H + 40 * 60, 5, 30)] * 3,
                  "rest_20min": [(3 * H + 50 * 60, 10, 20), (3 * H + 40 * 60, 10, 0)]}[variant]
        here, there, here_city, there_city = site, far, city, other
        track.park(d0 + 6 * H + 40 * 60)
        for span, turn_min, rest in blocks:
            turn = turn_min * 60
            probe = self._inter_leg(here, there, here_city, there_city, 70.0, rng, conn_kmh=22.0)
            fixed = sum(self._duration([p]) for p in probe if not (p.cls == CLS_EXP and p.kmh == 70.0))
            cruise_km = sum(float(dist_km(p.a[0], p.a[1], p.b[0], p.b[1])) for p in probe
                            if p.cls == CLS_EXP and p.kmh == 70.0)
            # The fewest legs whose cruising speed lands in 45–77 km/h. If the needed speed jumps
            # past the window (n − 1 legs need < 45, n legs > 77), drive n − 1 legs: at 45 km/h
            # for a positive (a block longer than the target), at 77 km/h for the near miss (a
            # shorter one), so each stays on its side of the threshold.
            n, cruise = 1, 45.0
            for n in range(1, 60):
                avail = span - (n - 1) * turn - n * fixed
                needed = n * cruise_km / avail * H if avail > 0 else 1e9
                if needed >= 45:
                    if needed <= 77 or n == 1:
                        cruise = min(needed, 77.0)
                    else:
                        n, cruise = n - 1, (77.0 if variant == "rest_20min" else 45.0)
                    break
            for leg in range(n):
                depart = track.t
                pieces = self._inter_leg(here, there, here_city, there_city, cruise, rng, conn_kmh=22.0)
                pieces = [Piece(p.a, p.b, p.cls, p.kmh, p.cap, True) if p.cls == CLS_EXP and p.kmh == cruise else p
                          for p in pieces]
                t1 = track.drive(pieces, rng)
                bills.append(self._waybill(i, here, there, depart, t1, rng))
                here, there, here_city, there_city = there, here, there_city, here_city
                if leg < n - 1:
                    track.park(t1 + turn)
            if rest:
                track.park(track.t + rest * 60 + 1)

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
    for b in vday.waybills:
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


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of runs of True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist(), strict=True))


def day_flags(world: HazmatWorld, vday: VehicleDay, day: int, places: tuple[np.ndarray, np.ndarray]) -> list:
    v = world.vehicles[vday.vehicle]
    prov = world.prov
    p = vday.points
    t, spd, cls = p["t"], p["spd"], p["cls"]
    flags = []
    plate = v.plate

    def flag(rule: str, detail: str) -> None:
        flags.append((rule, "vehicle", plate, detail))

    valid = [b for b in vday.waybills if b.status != "cancelled"]
    # No waybill (speeds are in tenths of km/h).
    th = params("hazmat.no_waybill")
    covered = np.zeros(len(t), bool)
    for b in valid:
        covered |= (t >= b.depart) & (t <= b.arrive)
    for a, z in _runs((spd > round(10 * th["moving_above_kmh"])) & ~covered):
        if t[z] - t[a] > th["longer_than_s"]:
            flag("hazmat.no_waybill", f"moving {(t[z] - t[a]) / 60:.0f} min without a waybill")
            break
    # Crew.
    for b in valid:
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
    for b in valid:
        if _at_risk(v.driver, day) or _at_risk(v.escort, day):
            flag("hazmat.crew_at_risk", f"waybill {b.no}: crew member with a registry hit")
            break
    # Fatigue.
    th = params("hazmat.fatigue")
    stopped = spd == 0
    rest = np.zeros(len(t), bool)
    for a, z in _runs(stopped):
        if t[z] - t[a] >= th["rest_stop_at_least_s"]:
            rest[a: z + 1] = True
    longest = 0
    for a, z in _runs(~rest):
        moving = np.flatnonzero(spd[a: z + 1] > 0)
        if len(moving):
            longest = max(longest, int(t[a + moving[-1]] - t[a + moving[0]]))
    gaps = np.diff(np.concatenate([t, [t[-1] if len(t) else 0]]))
    moving_time = int(np.minimum(gaps, 60)[spd > 0].sum()) if len(t) else 0
    if longest > th["continuous_more_than_h"] * H or moving_time > th["daily_more_than_h"] * H:
        flag("hazmat.fatigue", f"longest continuous driving {longest / H:.2f} h, {moving_time / H:.2f} h in the day")
    # Speeding.
    th = params("hazmat.speeding")
    expressway = np.isin(cls, codes(th["expressway_classes"], ROAD_CLASSES, "hazmat.speeding.expressway_classes"))
    limit = np.where(expressway, round(10 * th["expressway_limit_kmh"]), round(10 * th["other_limit_kmh"]))
    for a, z in _runs(spd > limit):
        if t[z] - t[a] >= th["at_least_s"]:
            flag("hazmat.speeding", f"{spd[a:z + 1].max() / 10:.0f} km/h for {t[z] - t[a]} s")
            break
    # Night ban.
    th = params("hazmat.night_ban")
    banned = codes(th["road_classes"], ROAD_CLASSES, "hazmat.night_ban.road_classes")
    sod = t % 86400
    night = np.isin(cls, banned) & ((sod >= clock_seconds(th["from"])) | (sod < clock_seconds(th["until"])))
    if night.any():
        flag("hazmat.night_ban", f"on an expressway at night ({int(night.sum())} points)")
    # Sensitive stop.
    th = params("hazmat.sensitive_stop")
    plon, plat = places
    for a, z in _runs(stopped):
        if t[z] - t[a] > th["stop_longer_than_s"]:
            d = dist_km(p["lon"][a], p["lat"][a], plon, plat) * 1000
            if (d <= th["within_m"]).any():
                flag("hazmat.sensitive_stop", f"stopped {(t[z] - t[a]) / 60:.0f} min {d.min():.0f} m from a sensitive place")
                break
    # Route deviation.
    far = params("hazmat.route_deviation")["more_than_km"]
    for b in valid:
        inside = (t >= b.depart) & (t <= b.arrive)
        if not inside.any():
            continue
        L, U = prov.special[b.load], prov.special[b.unload]
        d = point_segment_km(p["lon"][inside], p["lat"][inside], L.lon, L.lat, U.lon, U.lat)
        if (d > far).any():
            flag("hazmat.route_deviation", f"waybill {b.no}: {d.max():.1f} km from the load–unload corridor")
            break
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


def split_hourly(inbox: Path, dataset: str, day: dt.date, seed: int, late_share: float = LATE_HOUR_SHARE) -> list[Path]:
    """Rewrite the day's delivery of ``dataset`` as 24 hourly parts ``<dataset>_<YYYYMMDDHH>.<ext>``,
    each followed by its ``manifest_HH.json``, and the day's ``manifest.json`` listing all of them
    (the daily run reads exactly their union: the same rows as the daily file, in the same order
    inside each hour). ``late_share`` of the GPS reports (never of hour 23) go into the next hour's
    part. Deterministic for ``seed``. Returns the manifests written, the day's last."""
    import gzip

    from gridrisk.config import load_schema
    from gridrisk.delivery import MANIFEST, ManifestFile, delivery_folder, write_manifest

    schema = load_schema(dataset)
    folder = delivery_folder(inbox, dataset, day)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    gz = schema.format == "csv.gz"
    header: str | None = None
    rows: list[str] = []
    for entry in manifest["files"]:
        raw = (folder / entry["name"]).read_bytes()
        text = (gzip.decompress(raw) if gz and raw else raw).decode(schema.encoding)
        lines = text.splitlines()
        if schema.format != "jsonl" and lines:
            header, lines = lines[0], lines[1:]
        rows += [ln for ln in lines if ln]
    header = header if schema.format != "jsonl" else None
    if header is None and schema.format != "jsonl":
        header = ",".join(schema.source_names)
    hours = np.array([delivery_hour(dataset, ln, day) for ln in rows], dtype=np.int64)
    if dataset == "gps_points" and len(rows):
        rng = stream(seed, "hourly", dataset, day.toordinal())
        hours = np.where((rng.random(len(rows)) < late_share) & (hours < 23), hours + 1, hours)
    for entry in manifest["files"]:
        (folder / entry["name"]).unlink()
    stamp = f"{day:%Y%m%d}"
    written: list[Path] = []
    parts: list[ManifestFile] = []
    for h in range(24):
        mine = [rows[i] for i in np.flatnonzero(hours == h)]
        body = "\n".join(([header] if header is not None else []) + mine)
        body += "\n" if body else ""
        data = body.encode(schema.encoding)
        if gz:
            data = gzip.compress(data, mtime=0)  # byte-identical for a seed
        path = folder / f"{schema.file_prefix}_{stamp}{h:02d}.{schema.format}"
        path.write_bytes(data)
        part = ManifestFile.of(path, len(mine))
        parts.append(part)
        written.append(write_manifest(folder, dataset, day, schema.kind, [part], hour=h))
    written.append(write_manifest(folder, dataset, day, schema.kind, parts))
    return written

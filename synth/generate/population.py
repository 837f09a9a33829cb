"""People, dwellings and the person-bearing registries of one chunk of the population.

The population is generated in chunks of ``sizes.persons_per_chunk`` people. A chunk owns its
households, its buildings (building numbers ``1 + j·n_chunks + k`` never collide between
chunks) and every record about its people, so chunks are independent: nothing about one
chunk is kept once it is written. Everything is vectorised with numpy except the handful of
planted cases.

Ambient data is built so that no rule of domain.md §4 fires on it by accident and so that the
ambiguous corners of the rules never occur: the only positives are the planted ones, and each
planted case sits clearly inside or (near misses) right outside one threshold. The invariants:

* a person with a qualifying registry record (mental: incident or risk ≥ 3; drugs: a control
  status or use/release within 3 years) never holds a 正常 licence or an active qualification
  unless planted; registry persons never drive ride-hailing cars or crew hazmat vehicles;
* licence status is 正常 only with a validity date ≥ 60 days ahead; qualifications 有效 only with
  a validity date in the future; active-qualification holders are ≤ 58 and hold a 正常 licence;
* shared flats hold the tenant and at most two co-tenants, each in a room of their own, with
  ≥ 12 m² per occupant; a building has at most 9 let rooms and 9 occupants in let units.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from gridrisk.ids import check_char

from . import thresholds as th
from .geo import CITIES, Province, stream
from .output import NODATE, DateTable, day_number, from_day_number, years_before
from .tables import (
    CS_ACTIVE,
    CS_CANCELLED,
    CS_EXPIRED,
    CS_REVOKED,
    CT_FREIGHT,
    CT_HAZMAT_DRIVER,
    CT_HAZMAT_ESCORT,
    CT_PASSENGER,
    CT_RIDE_HAILING,
    CT_TAXI,
    DS_CAUGHT,
    DS_CLEAN3Y,
    DS_COMMUNITY,
    DS_ISOLATION,
    DS_RECOVERY,
    L_BED,
    L_NONE,
    L_SHARED,
    L_WHOLE,
    LS_CANCELLED,
    LS_EXPIRED,
    LS_NO_REVIEW,
    LS_POINTS,
    LS_REVOKED,
    LS_SUSPENDED,
    LS_VALID,
    R_CHILD,
    R_NONE,
    R_PARENT,
    R_SELF,
    R_SHARE,
    R_SPOUSE,
    RT_BEDROOM,
    U_COMMERCIAL,
    U_OWN,
    U_RENT,
    U_VACANT,
    Table,
)
from .thresholds import any_condition
from .vocab import DIAGNOSIS_WEIGHTS, GIVEN_FEMALE, GIVEN_MALE, MOBILE_PREFIXES, SURNAMES

#: Planted person-level and rental cases: rule → (positive variants, near-miss variants).
CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rental.overcrowded": (
        ("area", "area_exact_4", "area_not_self_contained", "room_over_2", "not_for_living", "by_bed",
         "adult_today"),
        ("three_adults", "area_10", "area_5_not_self_contained", "two_per_room", "family_adults",
         "family_one_room", "former_kitchen", "minor"),
    ),
    "rental.concentrated": (("exactly_10", "large", "occupants_only"), ("nine", "owner_units")),
    "driver.mental": (("incident", "risk3", "risk5"), ("risk2", "cancelled")),
    "driver.drugs": (("community", "isolation", "recovery", "caught", "use_within_3y", "released_within_3y"),
                     ("clean_3y1d", "cancelled")),
    "data.licence_not_cancelled": (("mental_old", "drug_old"), ("mental_30d", "drug_30d")),
    "worker.at_risk": (("mental_freight", "drug_passenger", "ride_hailing_clean", "escort_drug"),
                       ("taxi_clean", "inactive")),
    "data.qualification_active": (("licence_cancelled", "age61", "age64"), ("age60", "inactive_cancelled")),
}
RENTAL_RULES = ("rental.overcrowded", "rental.concentrated")

PERSON_SPEC = {"gid": "i8", "sex": "i1", "birth": "i4", "dwelling": "i4", "rel": "i1", "hh": "i4",
               "special": "?", "exact": "?", "present": "?", "owner_home": "?", "id18": "O", "name": "O",
               "phone": "O", "registered": "i4"}
DWELLING_SPEC = {"code": "O", "community": "i4", "building": "i4", "area10": "i4", "rooms": "i2",
                 "self_contained": "?", "use": "i1", "let": "i1", "owner": "i4", "updated": "i4",
                 "lon": "f8", "lat": "f8", "grid": "O", "text": "O", "planted": "?"}
REG_SPEC = {"reg_no": "O", "person": "i4", "dwelling": "i4", "room_no": "O", "room_type": "i1",
            "move_in": "i4", "move_out": "i4", "rel": "i1"}
LICENCE_SPEC = {"file_no": "O", "person": "i4", "classes": "O", "status": "i1", "first_issue": "i4",
                "valid_until": "i4", "changed": "i4"}
WORKER_SPEC = {"cert_no": "O", "person": "i4", "cert_type": "i1", "employer": "O", "plate": "O",
               "issue": "i4", "valid_until": "i4", "status": "i1"}
MENTAL_SPEC = {"patient_no": "O", "person": "i4", "diagnosis": "i1", "risk": "i1", "incident": "?",
               "followup": "i4", "management": "i1"}
DRUG_SPEC = {"person_no": "O", "person": "i4", "status": "i1", "last_use": "i4", "release": "i4",
             "decision": "i4"}

PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def plate_for(letters: str, rng: np.random.Generator) -> str:
    """苏 + city letter + 5 characters without I or O (mostly digits, as issued)."""
    letter = letters[int(rng.integers(0, len(letters)))]
    tail = [PLATE_CHARS[int(i)] for i in rng.integers(0, 10, 5)]
    if rng.random() < 0.4:
        tail[int(rng.integers(0, 5))] = PLATE_CHARS[int(rng.integers(10, len(PLATE_CHARS)))]
    return "苏" + letter + "".join(tail)


@dataclass
class World:
    """What every chunk shares: geography, settings, dates, employers."""

    seed: int
    province: Province
    conf: dict
    noise: dict
    start: dt.date
    n_chunks: int
    dates: DateTable
    companies: dict[int, list[str]] = field(default_factory=dict)  # city → transport companies

    @property
    def d0(self) -> int:
        return day_number(self.start)


@dataclass
class CrewSlot:
    """A hazmat crew member the chunk must provide (see hazmat.py)."""

    vehicle: int
    role: str  # driver / escort
    variant: str
    carrier: str
    plate: str
    person: int = -1  # filled by the chunk
    worker_rows: list[int] = field(default_factory=list)


@dataclass
class ChunkPlan:
    k: int
    persons: int
    cases: list[tuple[str, str]]  # (rule, variant) planted in this chunk
    crew: list[CrewSlot]


# ---------------------------------------------------------------------------------------------
# Helpers on day numbers
# ---------------------------------------------------------------------------------------------

def age_years(birth: np.ndarray, day: int) -> np.ndarray:
    """Completed years on ``day`` (a person is N on their N-th birthday)."""
    b = np.asarray(birth).astype("datetime64[D]")
    d = np.datetime64(from_day_number(day))
    by = b.astype("datetime64[Y]").astype(int) + 1970
    bm = b.astype("datetime64[M]").astype(int) % 12
    bd = (b - b.astype("datetime64[M]")).astype(int)
    dy = d.astype("datetime64[Y]").astype(int) + 1970
    dm = d.astype("datetime64[M]").astype(int) % 12
    dd = int((d - d.astype("datetime64[M]")).astype(int))
    before = (dm < bm) | ((dm == bm) & (dd < bd))
    return dy - by - before.astype(int)


def bucket_offset(area, birth, sex) -> np.ndarray:
    """A fixed pseudo-random offset (0–499) per ID bucket, the same in every chunk."""
    a = np.asarray(area, dtype=np.int64)
    b = np.asarray(birth, dtype=np.int64)
    h = (a * 2654435761 + b * 40503 + np.asarray(sex, dtype=np.int64) * 97) % 1_000_003
    return (h * 7919) % 500


def birthday_years_ago(day: int, years: int, shift: int = 0) -> int:
    """Day number of the birth of someone whose ``years``-th birthday is ``day + shift``."""
    return day_number(years_before(from_day_number(day + shift), years))


# ---------------------------------------------------------------------------------------------
# Planted rental units
# ---------------------------------------------------------------------------------------------

@dataclass
class UnitSpec:
    use: int
    let: int
    self_contained: bool
    area10: int
    rooms: int
    occupants: list[tuple[int, object, str, int]]  # (relation, age, room_no, room_type)
    former: list[tuple[str, int]] = field(default_factory=list)  # (room_no, room_type)
    group: int = -1  # ≥ 0: planted building (concentrated cases); -1: an ordinary building


SPECIAL_ROOMS = (("C1", 2), ("W1", 3), ("Y1", 4), ("D1", 5))  # 厨房 卫生间 阳台 地下室


def rental_units(variant: str, rng: np.random.Generator, group: int) -> list[UnitSpec]:
    """The dwellings of one planted rental case (rental.overcrowded / rental.concentrated).

    The boundary cases sit on the thresholds of conf/rules (rental.overcrowded): exactly
    ``min_unrelated_adults`` at just under / exactly the area limit, one adult fewer, an
    occupant who comes of age (``adult_age``) today or tomorrow.
    """
    lim = th.params("rental.overcrowded")
    need = int(lim["min_unrelated_adults"])
    area10 = int(round(10 * lim["max_area_per_occupant_m2"]))
    area10_nsc = int(round(10 * lim["max_area_per_occupant_m2_not_self_contained"]))
    adult_age = int(lim["adult_age"])

    def adult() -> float:
        return float(rng.uniform(20, 45))

    def co() -> int:
        return R_NONE if rng.random() < 0.3 else R_SHARE

    def pairs(k: int) -> list[tuple[int, object, str, int]]:  # ≤ 2 per room
        return [(co(), adult(), f"{i // 2 + 1:02d}", RT_BEDROOM) for i in range(k)]

    rent = (U_RENT, L_SHARED)
    if variant == "area":
        k = int(rng.integers(4, 7))
        return [UnitSpec(*rent, True, int(k * rng.uniform(70, 95)), math.ceil(k / 2), pairs(k))]
    if variant == "area_exact_4":  # exactly the minimum of adults, 0.1 m² each under the limit
        return [UnitSpec(*rent, True, need * (area10 - 1), 2, pairs(need))]
    if variant == "area_not_self_contained":
        k = int(rng.integers(4, 6))
        return [UnitSpec(*rent, False, int(k * rng.uniform(35, 48)), math.ceil(k / 2), pairs(k))]
    if variant == "room_over_2":
        return [UnitSpec(*rent, True, int(rng.uniform(500, 700)), 1,
                         [(R_SHARE, adult(), "01", RT_BEDROOM) for _ in range(3)])]
    if variant == "not_for_living":
        room_no, room_type = SPECIAL_ROOMS[int(rng.integers(0, 4))]
        occ = [(R_SHARE, adult(), "01", RT_BEDROOM), (R_SHARE, adult(), "02", RT_BEDROOM),
               (R_SHARE, adult(), room_no, room_type)]
        return [UnitSpec(*rent, True, int(rng.uniform(500, 800)), 2, occ)]
    if variant == "by_bed":
        occ = [(R_SHARE, adult(), "01", RT_BEDROOM), (R_SHARE, adult(), "01", RT_BEDROOM),
               (R_SHARE, adult(), "02", RT_BEDROOM)]
        return [UnitSpec(U_RENT, L_BED, True, int(rng.uniform(500, 800)), 2, occ)]
    if variant == "adult_today":
        occ = pairs(need - 1) + [(R_SHARE, ("birthday", adult_age, 0), "02", RT_BEDROOM)]
        return [UnitSpec(*rent, True, 320, 2, occ)]
    if variant == "three_adults":
        return [UnitSpec(*rent, True, 195, 2, pairs(need - 1))]
    if variant == "area_10":
        return [UnitSpec(*rent, True, need * area10, 2, pairs(need))]
    if variant == "area_5_not_self_contained":
        return [UnitSpec(*rent, False, need * area10_nsc, 2, pairs(need))]
    if variant == "two_per_room":
        return [UnitSpec(*rent, True, int(rng.uniform(600, 800)), 2, pairs(4))]
    if variant == "family_adults":
        occ = [(R_SELF, 50.0, "01", RT_BEDROOM), (R_SPOUSE, 48.0, "01", RT_BEDROOM),
               (R_CHILD, 22.0, "02", RT_BEDROOM), (R_CHILD, 20.0, "02", RT_BEDROOM),
               (R_PARENT, 76.0, "03", RT_BEDROOM)]
        return [UnitSpec(U_RENT, L_WHOLE, True, 400, 3, occ)]
    if variant == "family_one_room":
        occ = [(R_SELF, 36.0, "01", RT_BEDROOM), (R_SPOUSE, 34.0, "01", RT_BEDROOM),
               (R_CHILD, 8.0, "01", RT_BEDROOM), (R_CHILD, 5.0, "01", RT_BEDROOM)]
        return [UnitSpec(U_RENT, L_WHOLE, True, 450, 1, occ)]
    if variant == "former_kitchen":
        return [UnitSpec(*rent, True, int(rng.uniform(550, 700)), 2,
                         [(R_SHARE, adult(), "01", RT_BEDROOM), (R_SHARE, adult(), "02", RT_BEDROOM)],
                         former=[("C1", 2)])]
    if variant == "minor":
        occ = pairs(need - 1) + [(R_SHARE, ("birthday", adult_age, 1), "02", RT_BEDROOM)]
        return [UnitSpec(*rent, True, 300, 2, occ)]

    # rental.concentrated: a building of its own, let units of couples of co-tenants plus
    # owner-occupied flats whose residents do not count.
    def let_unit(rooms: int) -> UnitSpec:
        occ = [(R_SELF, adult(), "01", RT_BEDROOM)] + [
            (R_SHARE, adult(), f"{i + 2:02d}", RT_BEDROOM) for i in range(rooms - 1)]
        return UnitSpec(U_RENT, L_SHARED, True, int(rooms * rng.uniform(150, 220)), rooms, occ, group=group)

    def own_unit(size: int) -> UnitSpec:
        occ = [(R_SELF, 45.0, "01", RT_BEDROOM), (R_SPOUSE, 43.0, "01", RT_BEDROOM)]
        occ += [(R_CHILD, 15.0, f"{i + 2:02d}", RT_BEDROOM) for i in range(size - 2)]
        return UnitSpec(U_OWN, L_NONE, True, int(rng.uniform(800, 1400)), max(1, size - 1), occ, group=group)

    owners = [own_unit(int(rng.integers(2, 4))) for _ in range(int(rng.integers(2, 5)))]
    if variant == "exactly_10":
        return [let_unit(2) for _ in range(5)] + owners
    if variant == "large":
        return [let_unit(2) for _ in range(int(rng.integers(6, 9)))] + owners
    if variant == "occupants_only":  # 8 let rooms, 12 occupants: the tenant alone, two co-tenants in room 02
        units = []
        for _ in range(4):
            occ = [(R_SELF, adult(), "01", RT_BEDROOM), (R_SHARE, adult(), "02", RT_BEDROOM),
                   (R_SHARE, adult(), "02", RT_BEDROOM)]
            units.append(UnitSpec(U_RENT, L_SHARED, True, int(rng.uniform(500, 700)), 2, occ, group=group))
        return units + owners
    if variant == "nine":
        return [let_unit(3) for _ in range(3)] + owners
    if variant == "owner_units":
        return [let_unit(2) for _ in range(4)] + [own_unit(4) for _ in range(4)]
    raise ValueError(f"unknown rental variant {variant}")


# ---------------------------------------------------------------------------------------------
# The chunk
# ---------------------------------------------------------------------------------------------

class Chunk:
    """Clean state of one chunk; :meth:`evolve` moves it on by one day."""

    def __init__(self, world: World, plan: ChunkPlan) -> None:
        self.world = world
        self.plan = plan
        self.k = plan.k
        self.rng = stream(world.seed, "chunk", plan.k)
        self.counters = {"reg": 0, "licence": 0, "worker": 0, "mental": 0, "drug": 0, "person": 0}
        self.newborn_buckets: dict[tuple[str, int, int], int] = {}
        self._build()

    # -- identifiers ---------------------------------------------------------------------------
    def _serials(self, kind: str, n: int) -> np.ndarray:
        start = self.counters[kind]
        self.counters[kind] = start + n
        return np.arange(start, start + n)

    def _keys(self, kind: str, n: int) -> list[str]:
        k = self.k
        s = self._serials(kind, n).tolist()
        if kind == "reg":
            return [f"DJ{k:04d}{i:08d}" for i in s]
        if kind == "licence":
            return [f"32{k:04d}{i:06d}" for i in s]
        if kind == "worker":
            return [f"3200{k:04d}{i:07d}" for i in s]
        if kind == "mental":
            return [f"JSJW{k:04d}{i:06d}" for i in s]
        if kind == "drug":
            return [f"XD32{k:04d}{i:06d}" for i in s]
        raise ValueError(kind)

    # -- build ---------------------------------------------------------------------------------
    def _build(self) -> None:
        rng = self.rng
        rental_cases = [(r, v) for r, v in self.plan.cases if r in RENTAL_RULES]
        person_cases = [(r, v) for r, v in self.plan.cases if r not in RENTAL_RULES]
        specs: list[UnitSpec] = []
        for g, (_, variant) in enumerate(rental_cases):
            specs += rental_units(variant, rng, g if variant in CATALOG["rental.concentrated"][0] +
                                  CATALOG["rental.concentrated"][1] else -1)
        planted_people = sum(len(s.occupants) for s in specs)
        ambient = max(0, self.plan.persons - planted_people)
        self._ambient_households(ambient)
        self._planted_units(specs)
        self._dwellings_and_buildings(specs)
        self._registrations()
        self._choose_special(person_cases)
        self._identities()
        self._records(person_cases)

    def _ambient_households(self, target: int) -> None:
        rng, conf = self.rng, self.world.conf
        shares = conf["sizes"]["households"]
        p_kind = np.array([shares["own"], shares["rent_family"], shares["shared"], shares["no_address"]])
        p_kind = p_kind / p_kind.sum()
        kinds_l, sizes_l, total = [], [], 0
        while total < target:
            h = int((target - total) / 2.2) + 64
            kinds = rng.choice(4, size=h, p=p_kind)
            fam = rng.choice([1, 2, 3, 4, 5], size=h, p=[0.22, 0.30, 0.27, 0.13, 0.08])
            shared = rng.choice([2, 3], size=h, p=[0.6, 0.4])
            sizes = np.where(kinds <= 1, fam, np.where(kinds == 2, shared, 1))
            kinds_l.append(kinds)
            sizes_l.append(sizes)
            total += int(sizes.sum())
        kinds = np.concatenate(kinds_l) if kinds_l else np.zeros(0, int)
        sizes = np.concatenate(sizes_l) if sizes_l else np.zeros(0, int)
        cum = np.cumsum(sizes)
        cut = int(np.searchsorted(cum, target)) + 1 if target > 0 else 0
        kinds, sizes = kinds[:cut].copy(), sizes[:cut].copy()
        if cut:
            sizes[-1] -= int(cum[cut - 1] - target)
            if kinds[-1] == 2 and sizes[-1] < 2:
                kinds[-1] = 3
        self.hh_kind = kinds  # 0 own, 1 rent_family, 2 shared, 3 no address
        self.hh_size = sizes
        n = int(sizes.sum())
        hh = np.repeat(np.arange(cut), sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if cut else np.zeros(0, int)
        pos = np.arange(n) - starts[hh]
        kind = kinds[hh]
        spouse = (sizes >= 2) & (kinds <= 1) & (rng.random(cut) < 0.8)
        rel_sp = np.array([R_SELF, R_SPOUSE, R_CHILD, R_CHILD, R_PARENT])
        rel_no = np.array([R_SELF, R_CHILD, R_CHILD, R_PARENT, R_PARENT])
        rel = np.where(spouse[hh], rel_sp[np.minimum(pos, 4)], rel_no[np.minimum(pos, 4)])
        rel = np.where(kind == 2, np.where(pos == 0, R_SELF, R_SHARE), rel)
        rel = np.where(kind == 3, R_SELF, rel)
        # Ages in years.
        head = np.select([kinds == 0, kinds == 1, kinds == 2],
                         [rng.triangular(24, 45, 85, cut), rng.triangular(21, 30, 55, cut), rng.uniform(18.5, 40, cut)],
                         rng.uniform(18.5, 75, cut))
        hd = head[hh]
        age = np.select(
            [pos == 0, rel == R_SPOUSE, rel == R_CHILD, rel == R_PARENT],
            [hd, np.clip(hd + rng.normal(-1.5, 3, n), 20, 95), hd - rng.uniform(22, 36, n),
             np.minimum(hd + rng.uniform(22, 32, n), 99)],
            rng.uniform(18.5, 40, n),
        )
        young = age < 0.2
        age = np.where(young, rng.uniform(0.2, 3, n), age)
        head_sex = (rng.random(cut) < np.where(kinds == 2, 0.6, 0.55)).astype(np.int8)
        sex = np.where(pos == 0, head_sex[hh], np.where(rel == R_SPOUSE, 1 - head_sex[hh], rng.random(n) < 0.5))
        birth = self.world.d0 - (age * 365.25).astype(np.int64) - rng.integers(0, 30, n)
        # Rooms of rented families: couple in 01, children share the next, parents the next.
        base_room = np.select([rel == R_CHILD, rel == R_PARENT], [2, 3], 1)
        change = np.ones(n, dtype=bool)
        change[1:] = (base_room[1:] != base_room[:-1]) | (hh[1:] != hh[:-1])
        csum = np.cumsum(change)
        room = csum - csum[starts][hh] + 1
        room = np.where(kind == 2, pos + 1, room)
        self.persons = Table(
            gid=np.arange(n, dtype=np.int64) + self.k * 10_000_000,
            sex=sex.astype(np.int8), birth=birth.astype(np.int32), dwelling=np.full(n, -1, np.int32),
            rel=rel.astype(np.int8), hh=hh.astype(np.int32), special=np.zeros(n, bool), exact=np.zeros(n, bool),
            present=np.ones(n, bool), owner_home=(kind == 0),
            id18=np.empty(n, object), name=np.empty(n, object), phone=np.empty(n, object),
            registered=np.zeros(n, np.int32),
        )
        self._room = room.astype(np.int16)
        self.counters["person"] = n

    def _planted_units(self, specs: list[UnitSpec]) -> None:
        """Append the planted units' occupants (and remember which unit each lives in)."""
        rng, d0 = self.rng, self.world.d0
        rows = {k: [] for k in ("sex", "birth", "rel", "exact", "room", "room_type", "unit")}
        for u, spec in enumerate(specs):
            for rel, age, room_no, room_type in spec.occupants:
                if isinstance(age, tuple):
                    birth, exact = birthday_years_ago(d0, age[1], age[2]), True
                else:
                    birth, exact = d0 - int(age * 365.25) - int(rng.integers(0, 300)), False
                rows["sex"].append(int(rng.random() < 0.6))
                rows["birth"].append(birth)
                rows["rel"].append(rel)
                rows["exact"].append(exact)
                rows["room"].append(room_no)
                rows["room_type"].append(room_type)
                rows["unit"].append(u)
        n0 = len(self.persons)
        m = len(rows["sex"])
        hh0 = int(self.persons.hh.max()) + 1 if n0 else 0
        self.persons.extend(
            gid=np.arange(n0, n0 + m, dtype=np.int64) + self.k * 10_000_000, sex=np.array(rows["sex"], np.int8),
            birth=np.array(rows["birth"], np.int32), dwelling=np.full(m, -1, np.int32),
            rel=np.array(rows["rel"], np.int8), hh=hh0 + np.array(rows["unit"], np.int32),
            special=np.ones(m, bool), exact=np.array(rows["exact"], bool), present=np.ones(m, bool),
            owner_home=np.zeros(m, bool), id18=np.empty(m, object), name=np.empty(m, object),
            phone=np.empty(m, object), registered=np.zeros(m, np.int32),
        )
        self.counters["person"] = n0 + m
        self._planted_rooms = rows
        self._planted_first = n0

    def _dwellings_and_buildings(self, specs: list[UnitSpec]) -> None:
        w, rng, conf = self.world, self.rng, self.world.conf
        prov = w.province
        d0 = w.d0
        kinds, sizes = self.hh_kind, self.hh_size
        hh_with = np.flatnonzero(kinds <= 2)
        n_hh = len(hh_with)
        n_vac = int(round(n_hh * conf["sizes"]["vacant_share"]))
        n_com = int(round(n_hh * conf["sizes"]["commercial_share"]))
        # Per-dwelling attributes, ambient households first, then vacant, commercial, planted.
        hk = kinds[hh_with]
        hs = sizes[hh_with]
        n_amb = n_hh + n_vac + n_com
        use = np.concatenate([np.where(hk == 0, U_OWN, U_RENT), np.full(n_vac, U_VACANT), np.full(n_com, U_COMMERCIAL)])
        let = np.concatenate([np.select([hk == 1, hk == 2], [L_WHOLE, L_SHARED], L_NONE), np.full(n_vac + n_com, L_NONE)])
        area = np.concatenate([
            np.select([hk == 0, hk == 1], [rng.uniform(50, 160, n_hh), np.maximum(12.5 * hs, rng.uniform(40, 120, n_hh))],
                      np.maximum(13 * hs, rng.uniform(36, 90, n_hh))),
            rng.uniform(40, 140, n_vac), rng.uniform(30, 300, n_com)])
        area10 = np.round(area * 10).astype(np.int32)
        # Rooms: bedrooms in use for let units (so registered rooms = room count), else by area.
        p = self.persons
        amb_n = int(self.hh_size.sum())
        hh_rooms = np.zeros(len(kinds), np.int16)
        np.maximum.at(hh_rooms, p.hh[:amb_n], self._room)
        rooms = np.concatenate([np.where(hk == 0, np.clip(np.round(area[:n_hh] / 35), 1, 4), hh_rooms[hh_with]),
                                rng.integers(1, 4, n_vac), np.ones(n_com, int)]).astype(np.int16)
        sc = rng.random(n_amb) > 0.03
        occ = np.concatenate([hs, np.zeros(n_vac + n_com, int)])
        # Planted units.
        use = np.concatenate([use, [s.use for s in specs]]).astype(np.int8)
        let = np.concatenate([let, [s.let for s in specs]]).astype(np.int8)
        area10 = np.concatenate([area10, [s.area10 for s in specs]]).astype(np.int32)
        rooms = np.concatenate([rooms, [s.rooms for s in specs]]).astype(np.int16)
        sc = np.concatenate([sc, [s.self_contained for s in specs]]).astype(bool)
        n_dw = len(use)
        planted = np.zeros(n_dw, bool)
        planted[n_amb:] = True
        group = np.concatenate([np.full(n_amb, -1), [s.group for s in specs]]).astype(int)
        let_rooms = np.where(use == U_RENT, rooms, 0).astype(int)
        let_occ = np.where(use == U_RENT, np.concatenate([occ, [len(s.occupants) for s in specs]]), 0).astype(int)
        for j, s in enumerate(specs):  # special rooms count as let rooms too
            if s.use == U_RENT:
                let_rooms[n_amb + j] = max(s.rooms, len({o[2] for o in s.occupants}))
        # Buildings: each takes a share of let units (never more than 9 let rooms or 9 occupants
        # in let units), then fills up with owner-occupied, vacant and commercial ones.
        ordinary = np.flatnonzero(group < 0)
        is_let = let_rooms[ordinary] > 0
        let_q = rng.permutation(ordinary[is_let]).tolist()
        other_q = rng.permutation(ordinary[~is_let]).tolist()
        building = np.full(n_dw, -1, np.int64)
        unit_idx = np.zeros(n_dw, np.int64)
        sizes_draw = rng.integers(6, 25, len(ordinary) + 1)
        share_draw = rng.random(len(ordinary) + 1)
        li = oi = 0
        cur = 0
        while li < len(let_q) or oi < len(other_q):
            target = int(sizes_draw[cur % len(sizes_draw)])
            remaining_let = len(let_q) - li
            share = remaining_let / max(1, remaining_let + len(other_q) - oi)
            want = int(np.floor(target * share + share_draw[cur % len(share_draw)]))
            filled = lr = lo = 0
            while li < len(let_q) and (filled < want or oi >= len(other_q)) and filled < target:
                d = let_q[li]
                if lr + let_rooms[d] > 9 or lo + let_occ[d] > 9:
                    break
                building[d], unit_idx[d] = cur, filled
                filled += 1
                lr += let_rooms[d]
                lo += let_occ[d]
                li += 1
            while oi < len(other_q) and filled < target:
                d = other_q[oi]
                building[d], unit_idx[d] = cur, filled
                filled += 1
                oi += 1
            cur += 1
        n_ord = cur
        # Planted buildings.
        for g in sorted(set(group[group >= 0].tolist())):
            members = np.flatnonzero(group == g)
            building[members] = n_ord
            unit_idx[members] = np.arange(len(members))
            n_ord += 1
        n_b = n_ord
        # Building → community, number, position, floor layout.
        cdf = np.cumsum(prov.comm_weight)
        comm = np.searchsorted(cdf / cdf[-1], rng.random(n_b)).astype(np.int64)
        comm = np.minimum(comm, len(cdf) - 1)
        order_b = np.lexsort((np.arange(n_b), comm))
        j = np.zeros(n_b, np.int64)
        sc_sorted = comm[order_b]
        first = np.concatenate([[True], sc_sorted[1:] != sc_sorted[:-1]])
        csum = np.cumsum(np.ones(n_b, np.int64))
        grp_start = np.maximum.accumulate(np.where(first, csum, 0))
        j[order_b] = csum - grp_start
        number = 1 + j * w.n_chunks + self.k
        if number.max(initial=0) > 8999:
            raise RuntimeError("building numbers overflow 8999: raise persons_per_community")
        blon, blat, bgrid = prov.random_points(comm, rng)
        per_floor = rng.integers(2, 5, n_b)
        # Dwelling columns.
        b = building
        floor = unit_idx // per_floor[b] + 1
        room = unit_idx % per_floor[b] + 1
        unit_no = floor * 100 + room
        comm_d = comm[b]
        codes = [f"{prov.comm_code[c]}{nb:04d}{u:04d}" for c, nb, u in zip(comm_d.tolist(), number[b].tolist(), unit_no.tolist(), strict=True)]
        roads = prov.comm_roads
        texts = [f"{prov.comm_prefix[c]}{roads[c][nb % 3]}{nb}号{f}{r:02d}室"
                 for c, nb, f, r in zip(comm_d.tolist(), number[b].tolist(), floor.tolist(), room.tolist(), strict=True)]
        # Owners: landlords are heads of owner-occupied households of this chunk.
        heads = np.flatnonzero((p.rel == R_SELF) & p.owner_home)
        if len(heads) == 0:
            heads = np.flatnonzero(age_years(p.birth, d0) >= 25)
        owner = heads[rng.integers(0, len(heads), n_dw)].astype(np.int32)
        self.dwellings = Table(
            code=np.array(codes, dtype=object), community=comm_d.astype(np.int32), building=b.astype(np.int32),
            area10=area10, rooms=rooms, self_contained=sc, use=use, let=let, owner=owner,
            updated=(d0 - rng.integers(1, 1500, n_dw)).astype(np.int32), lon=blon[b], lat=blat[b],
            grid=np.array(bgrid, dtype=object)[b], text=np.array(texts, dtype=object), planted=planted,
        )
        self.building_number = number
        self.building_comm = comm
        # Residents → dwellings.
        dw_of_hh = np.full(len(kinds), -1, np.int64)
        dw_of_hh[hh_with] = np.arange(n_hh)
        amb = np.arange(amb_n)
        p.dwelling[amb] = dw_of_hh[p.hh[amb]]
        first_planted = self._planted_first
        unit_of = np.array(self._planted_rooms["unit"], dtype=np.int64)
        p.dwelling[first_planted:] = n_amb + unit_of
        # Owners of owner-occupied dwellings are their heads; planted owner units: their 本人.
        own_heads = np.flatnonzero((p.rel == R_SELF) & (p.dwelling >= 0))
        own_dw = p.dwelling[own_heads]
        mask = self.dwellings.use[own_dw] == U_OWN
        self.dwellings.owner[own_dw[mask]] = own_heads[mask]
        p.owner_home[first_planted:] = self.dwellings.use[p.dwelling[first_planted:]] == U_OWN
        self._specs = specs
        self._n_amb_dwellings = n_amb

    def _registrations(self) -> None:
        rng, d0 = self.rng, self.world.d0
        p, dw = self.persons, self.dwellings
        amb_n = int(self.hh_size.sum())
        in_rent = np.flatnonzero((p.dwelling >= 0) & (dw.use[np.maximum(p.dwelling, 0)] == U_RENT))
        amb = in_rent[in_rent < amb_n]
        pl = in_rent[in_rent >= amb_n]
        hh_move = d0 - rng.integers(30, 1800, len(self.hh_kind) + 1)
        move_in = np.maximum(hh_move[p.hh[amb]], p.birth[amb])
        room_no = [f"{r:02d}" for r in self._room[amb].tolist()]
        room_type = np.zeros(len(amb), np.int8)
        rp = self._planted_rooms
        off = pl - self._planted_first
        pl_move = np.maximum(d0 - rng.integers(30, 700, len(pl)), p.birth[pl])
        persons = np.concatenate([amb, pl]).astype(np.int32)
        dws = p.dwelling[persons]
        rooms = room_no + [rp["room"][i] for i in off.tolist()]
        rtypes = np.concatenate([room_type, np.array([rp["room_type"][i] for i in off.tolist()], np.int8)])
        moves = np.concatenate([move_in, pl_move]).astype(np.int32)
        # Former tenants: someone of this chunk, now living elsewhere, moved out a while ago.
        rented = np.flatnonzero((dw.use == U_RENT) & ~dw.planted)
        formers = rented[rng.random(len(rented)) < self.world.conf["sizes"]["former_tenant_share"]]
        spec_former = [(self._n_amb_dwellings + j, rn, rt) for j, s in enumerate(self._specs) for rn, rt in s.former]
        f_dw = np.concatenate([formers, [x[0] for x in spec_former]]).astype(np.int32)
        adults = np.flatnonzero((age_years(p.birth, d0) >= 25) & ~p.special)
        f_person = adults[rng.integers(0, len(adults), len(f_dw))] if len(adults) else np.zeros(0, np.int64)
        f_out = d0 - rng.integers(30, 700, len(f_dw))
        f_in = f_out - rng.integers(120, 1500, len(f_dw))
        f_rooms = ["01"] * len(formers) + [x[1] for x in spec_former]
        f_types = np.concatenate([np.zeros(len(formers), np.int8), np.array([x[2] for x in spec_former], np.int8)])
        n = len(persons) + len(f_dw)
        self.regs = Table(
            reg_no=np.empty(n, object),
            person=np.concatenate([persons, f_person]).astype(np.int32),
            dwelling=np.concatenate([dws, f_dw]).astype(np.int32),
            room_no=np.array(rooms + f_rooms, dtype=object),
            room_type=np.concatenate([rtypes, f_types]).astype(np.int8),
            move_in=np.concatenate([moves, f_in]).astype(np.int32),
            move_out=np.concatenate([np.full(len(persons), NODATE), f_out]).astype(np.int32),
            rel=np.concatenate([p.rel[persons], np.full(len(f_dw), R_SELF)]).astype(np.int8),
        )
        order = rng.permutation(n)
        self.regs = Table(**self.regs.take(order))
        self.regs.reg_no = np.array(self._keys("reg", n), dtype=object)

    # -- special people ------------------------------------------------------------------------
    def _choose_special(self, person_cases: list[tuple[str, str]]) -> None:
        """Pick the people behind planted cases and crew slots; set exact ages where needed."""
        rng, d0 = self.rng, self.world.d0
        p = self.persons
        ages = age_years(p.birth, d0)
        pool = np.flatnonzero(~p.special & (p.owner_home & ((p.rel == R_SELF) | (p.rel == R_SPOUSE))
                                             | (p.dwelling < 0)) & (ages >= 25) & (ages <= 55))
        need = len(person_cases) + len(self.plan.crew)
        if need > len(pool):
            raise RuntimeError(f"chunk {self.k}: {need} planted people but only {len(pool)} candidates")
        chosen = rng.choice(pool, size=need, replace=False)
        p.special[chosen] = True
        self.case_person = chosen[: len(person_cases)]
        for slot, person in zip(self.plan.crew, chosen[len(person_cases):].tolist(), strict=True):
            slot.person = person
        max_age = int(th.params("data.qualification_active")["max_age"])
        exact_years = {"age61": max_age + 1, "age60": max_age}  # one year over the limit / exactly at it
        for (_, variant), person in zip(person_cases, self.case_person.tolist(), strict=True):
            if variant in exact_years:
                p.birth[person] = birthday_years_ago(d0, exact_years[variant])
                p.exact[person] = True
            elif variant == "age64":
                p.birth[person] = d0 - int(64.5 * 365.25)

    def _identities(self) -> None:
        """ID numbers (unique across chunks), names, phones, registration dates."""
        w, rng, d0 = self.world, self.rng, self.world.d0
        prov = w.province
        p = self.persons
        n = len(p)
        n_d = len(prov.districts)
        home = np.where(p.dwelling >= 0, prov.comm_district[self.dwellings.community[np.maximum(p.dwelling, 0)]],
                        rng.integers(0, n_d, n))
        u = rng.random(n)
        area = np.where(u < 0.80, home, np.where(u < 0.92, rng.integers(0, n_d, n),
                                                  n_d + rng.integers(0, len(prov.other_areas), n)))
        area_codes = [d[0] for d in prov.districts] + prov.other_areas
        p.birth[:] = self._unique_sequences(area, p.birth, p.sex, p.exact)
        seq = self._seq
        ymd = w.dates.fmt(p.birth, "yyyyMMdd")
        ids = []
        for a, b, s in zip(area.tolist(), ymd, seq.tolist(), strict=True):
            first17 = f"{area_codes[a]}{b}{s:03d}"
            ids.append(first17 + check_char(first17))
        p.id18 = np.array(ids, dtype=object)
        p.name = np.array(self._names(), dtype=object)
        ages = age_years(p.birth, d0)
        pre = rng.integers(0, len(MOBILE_PREFIXES), n)
        num = rng.integers(0, 100_000_000, n)
        phones = [f"{MOBILE_PREFIXES[a]}{b:08d}" for a, b in zip(pre.tolist(), num.tolist(), strict=True)]
        p.phone = np.where(ages >= 12, np.array(phones, dtype=object), "")
        p.registered = np.maximum(p.birth, d0 - rng.integers(1, 7300, n)).astype(np.int32)

    def _unique_sequences(self, area, birth, sex, exact) -> np.ndarray:
        """Give everyone a sequence number so that (area, birth, seq) is unique province-wide.

        Chunk ``k`` of ``n`` uses sequence slots ``k, k+n, k+2n, …`` of each (area, birth date,
        sex) bucket, shifted by an offset that depends on the bucket only (so numbers look spread
        out and stay unique); a person who finds no slot left is born a day earlier (never
        someone whose exact birthday a planted case depends on).
        """
        k, nc = self.k, self.world.n_chunks
        birth = birth.astype(np.int64).copy()
        for _ in range(50):
            order = np.lexsort((~exact, sex, birth, area))
            ka, kb, ks = area[order], birth[order], sex[order]
            first = np.ones(len(order), bool)
            first[1:] = (ka[1:] != ka[:-1]) | (kb[1:] != kb[:-1]) | (ks[1:] != ks[:-1])
            idx = np.arange(len(order))
            rank_sorted = idx - np.maximum.accumulate(np.where(first, idx, 0))
            rank = np.empty(len(order), np.int64)
            rank[order] = rank_sorted
            slot = k + nc * rank
            over = (slot >= 500) & ~exact
            if not over.any():
                self._seq = (2 * ((slot + bucket_offset(area, birth, sex)) % 500) + sex).astype(np.int64)
                return birth
            birth[over] -= 1
        raise RuntimeError("could not find unique ID sequence numbers")

    def _names(self) -> list[str]:
        rng = self.rng
        p = self.persons
        n = len(p)
        sw = np.array([w for _, w in SURNAMES])
        sur = rng.choice(len(SURNAMES), n, p=sw / sw.sum())
        # Children carry the family name of the father (the head, or the head's husband).
        hh, rel, sex = p.hh, p.rel, p.sex
        fam = np.full(int(hh.max()) + 1 if n else 0, -1)
        heads = np.flatnonzero(rel == R_SELF)
        fam[hh[heads]] = np.where(sex[heads] == 1, sur[heads], -1)
        husbands = np.flatnonzero((rel == R_SPOUSE) & (sex == 1))
        fam[hh[husbands]] = sur[husbands]
        fam[hh[heads]] = np.where(fam[hh[heads]] < 0, sur[heads], fam[hh[heads]])
        child_or_father = (rel == R_CHILD) | ((rel == R_PARENT) & (sex == 1))
        sur = np.where(child_or_father & (fam[hh] >= 0), fam[hh], sur)
        two = rng.random(n) < 0.72
        gm, gf = GIVEN_MALE, GIVEN_FEMALE
        a = rng.integers(0, 10_000, n)
        b = rng.integers(0, 10_000, n)
        out = []
        for s, m, t, x, y in zip(sur.tolist(), sex.tolist(), two.tolist(), a.tolist(), b.tolist(), strict=True):
            pool = gm if m else gf
            g = pool[x % len(pool)] + (pool[y % len(pool)] if t else "")
            out.append(SURNAMES[s][0] + g)
        return out

    # -- registries ----------------------------------------------------------------------------
    def _records(self, person_cases: list[tuple[str, str]]) -> None:
        rng, d0, conf = self.rng, self.world.d0, self.world.conf
        p = self.persons
        n = len(p)
        ages = age_years(p.birth, d0)
        lic = {k: [] for k in ("person", "classes", "status", "first_issue", "valid_until", "changed")}
        wk = {k: [] for k in ("person", "cert_type", "employer", "plate", "issue", "valid_until", "status")}
        mh = {k: [] for k in ("person", "diagnosis", "risk", "incident", "followup", "management")}
        dr = {k: [] for k in ("person", "status", "last_use", "release", "decision")}
        self._planted_builders = (lic, wk, mh, dr)
        for (rule, variant), person in zip(person_cases, self.case_person.tolist(), strict=True):
            self._plant(rule, variant, int(person))
        for slot in self.plan.crew:
            self._plant_crew(slot)
        planted_mh, planted_dr, planted_wk = len(mh["person"]), len(dr["person"]), len(wk["person"])
        free = ~p.special
        # Mental-health registry.
        n_m = max(0, int(round(conf["sizes"]["mental_share"] * n)) - planted_mh)
        cand = np.flatnonzero(free & (ages >= 15))
        m_people = rng.choice(cand, size=min(n_m, len(cand)), replace=False)
        risk = rng.choice(6, len(m_people), p=[0.45, 0.30, 0.17, 0.05, 0.02, 0.01])
        incident = rng.random(len(m_people)) < 0.04
        mgmt = rng.choice(4, len(m_people), p=[0.85, 0.05, 0.03, 0.07])
        # Drug registry (nobody in both, to keep the planted positives the only overlaps).
        taken = np.zeros(n, bool)
        taken[m_people] = True
        n_d = max(0, int(round(conf["sizes"]["drug_share"] * n)) - planted_dr)
        cand = np.flatnonzero(free & ~taken & (ages >= 25))
        d_people = rng.choice(cand, size=min(n_d, len(cand)), replace=False)
        taken[d_people] = True
        dstat = rng.choice(5, len(d_people), p=[0.10, 0.08, 0.12, 0.60, 0.10])
        last_use, release, decision = self._drug_dates(dstat, p.birth[d_people])
        d_qual = any_condition("drugs", dstat, last_use, release, d0)
        m_qual = any_condition("mental", risk, incident)
        qualifying = np.zeros(n, bool)
        qualifying[m_people[m_qual]] = True
        qualifying[d_people[d_qual]] = True
        # Transport workers: never registry people, aged 22–58.
        n_w = max(0, int(round(conf["sizes"]["transport_worker_share"] * n)) - planted_wk)
        cand = np.flatnonzero(free & ~taken & (ages >= 22) & (ages <= 58))
        w_people = rng.choice(cand, size=min(n_w, len(cand)), replace=False)
        ctype = rng.choice(6, len(w_people), p=[0.15, 0.45, 0.05, 0.05, 0.18, 0.12])
        cstat = rng.choice(4, len(w_people), p=[0.85, 0.05, 0.08, 0.02])
        issue = d0 - rng.integers(60, 3000, len(w_people))
        valid = np.where(cstat == CS_EXPIRED, d0 - rng.integers(1, 700, len(w_people)),
                         d0 + rng.integers(60, 2000, len(w_people)))
        is_driver = ctype != CT_HAZMAT_ESCORT
        # Licences.
        sexf = np.where(p.sex == 1, 1.25, 0.75)
        base = np.interp(ages, [17.9, 18, 25, 35, 55, 65, 75, 80.1], [0, 0.35, 0.6, 0.65, 0.55, 0.35, 0.15, 0])
        weight = np.where(free, base * sexf, 0.0)
        target = max(0, conf["sizes"]["licence_share"] * n - len(lic["person"]))
        prob = np.minimum(0.97, weight * target / max(weight.sum(), 1e-9))
        has = rng.random(n) < prob
        workers_mask = np.zeros(n, bool)
        workers_mask[w_people[is_driver]] = True
        has |= workers_mask
        holders = np.flatnonzero(has)
        lstat = rng.choice(7, len(holders), p=[0.90, 0.01, 0.01, 0.03, 0.01, 0.02, 0.02])
        active_worker = np.zeros(n, bool)
        active_worker[w_people[cstat == CS_ACTIVE]] = True
        lstat = np.where(active_worker[holders], LS_VALID, lstat)
        lstat = np.where(qualifying[holders], LS_CANCELLED, lstat)
        lstat = np.where(workers_mask[holders] & (lstat == LS_REVOKED), LS_CANCELLED, lstat)
        h_age = ages[holders]
        first = np.maximum(p.birth[holders] + 18 * 366 + rng.integers(0, 3000, len(holders)), d0 - 12000)
        first = np.minimum(first, d0 - 60)
        lvalid = np.select([lstat == LS_VALID, lstat == LS_EXPIRED],
                           [d0 + rng.integers(60, 3650, len(holders)), d0 - rng.integers(1, 700, len(holders))],
                           d0 + rng.integers(-300, 2000, len(holders)))
        lchanged = np.where(lstat == LS_VALID, np.maximum(first, d0 - rng.integers(30, 3000, len(holders))),
                            d0 - rng.integers(1, 700, len(holders)))
        lchanged = np.maximum(lchanged, first)
        classes = self._licence_classes(holders, w_people, ctype, h_age)
        amb_lic = dict(person=holders, classes=classes, status=lstat, first_issue=first, valid_until=lvalid,
                       changed=lchanged)
        # Employers and plates of ambient workers.
        home_city = self._home_city(w_people)
        employers, plates = [], []
        for c, t, d in zip(home_city.tolist(), ctype.tolist(), is_driver.tolist(), strict=True):
            employers.append(self._employer(c, t))
            plates.append(plate_for(CITIES[self.world.province.city_codes[c]][1], rng) if d and t != CT_FREIGHT or
                          (d and rng.random() < 0.5) else "")
        amb_wk = dict(person=w_people, cert_type=ctype, employer=employers, plate=plates, issue=issue,
                      valid_until=valid, status=cstat)
        fu = d0 - rng.integers(1, 120, len(m_people))
        amb_mh = dict(person=m_people, diagnosis=self._diagnoses(len(m_people)), risk=risk, incident=incident,
                      followup=fu, management=mgmt)
        amb_dr = dict(person=d_people, status=dstat, last_use=last_use, release=release, decision=decision)
        self.licences = self._table("licence", LICENCE_SPEC, amb_lic, lic, key="file_no")
        self.workers = self._table("worker", WORKER_SPEC, amb_wk, wk, key="cert_no")
        self.mental = self._table("mental", MENTAL_SPEC, amb_mh, mh, key="patient_no")
        self.drugs = self._table("drug", DRUG_SPEC, amb_dr, dr, key="person_no")
        # Crew members' certificates, found by person after the shuffle.
        for slot in self.plan.crew:
            slot.worker_rows = np.flatnonzero(self.workers.person == slot.person).tolist()

    def _table(self, kind: str, spec: dict, ambient: dict, planted: dict, key: str) -> Table:
        cols = {}
        for c, dtype in spec.items():
            if c == key:
                continue
            a = np.asarray(ambient[c], dtype=dtype if dtype != "O" else object)
            b = np.asarray(planted[c], dtype=dtype if dtype != "O" else object)
            cols[c] = np.concatenate([a, b])
        n = len(cols["person"])
        order = self.rng.permutation(n)
        cols = {c: v[order] for c, v in cols.items()}
        cols[key] = np.array(self._keys(kind, n), dtype=object)
        return Table(**{c: cols[c] for c in spec})

    def _home_city(self, people: np.ndarray) -> np.ndarray:
        prov = self.world.province
        dw = self.persons.dwelling[people]
        comm = self.dwellings.community[np.maximum(dw, 0)]
        city = prov.comm_city[comm]
        return np.where(dw >= 0, city, self.k % len(prov.city_codes))

    def _employer(self, city: int, ctype: int) -> str:
        companies = self.world.companies[city]
        return companies[(ctype * 7 + int(self.rng.integers(0, 5))) % len(companies)]

    def _diagnoses(self, n: int) -> np.ndarray:
        w = np.array(DIAGNOSIS_WEIGHTS)
        return self.rng.choice(len(w), n, p=w / w.sum()).astype(np.int8)

    def _licence_classes(self, holders, w_people, ctype, h_age) -> list[str]:
        rng = self.rng
        common = np.array(["C1", "C1", "C1", "C1", "C1", "C1", "C2", "C1E", "C1D", "B2", "A2", "A1", "B1", "C1"], dtype=object)
        out = common[rng.integers(0, len(common), len(holders))]
        by_person = {int(p): int(t) for p, t in zip(w_people.tolist(), ctype.tolist(), strict=True)}
        prof = {CT_PASSENGER: ("A1", "B1", "A1D"), CT_FREIGHT: ("A2", "B2", "A2D"), CT_HAZMAT_DRIVER: ("A2", "B2"),
                CT_RIDE_HAILING: ("C1",), CT_TAXI: ("C1", "C1E")}
        for i, person in enumerate(holders.tolist()):
            t = by_person.get(person)
            if t is not None and t in prof:
                choices = prof[t]
                out[i] = choices[int(rng.integers(0, len(choices)))]
        return out.tolist()

    def _drug_dates(self, status: np.ndarray, birth: np.ndarray):
        """(last use, release, decision) consistent with each control status, all ambient-safe."""
        rng, d0 = self.rng, self.world.d0
        n = len(status)
        three = 3 * 366
        lu = np.select(
            [status == DS_CLEAN3Y, status == DS_COMMUNITY, status == DS_ISOLATION, status == DS_RECOVERY],
            [d0 - three - rng.integers(60, 3000, n), d0 - rng.integers(30, 1000, n), d0 - rng.integers(30, 700, n),
             d0 - rng.integers(800, 1500, n)],
            d0 - rng.integers(1, 900, n))
        rel = np.select(
            [status == DS_RECOVERY, (status == DS_CLEAN3Y) & (rng.random(n) < 0.4)],
            [d0 - rng.integers(30, 700, n), np.minimum(lu + rng.integers(300, 730, n), d0 - three - 60)],
            NODATE)
        dec = np.select(
            [status == DS_RECOVERY, status == DS_CLEAN3Y],
            [rel, np.minimum(np.where(rel != NODATE, rel, lu) + three + rng.integers(0, 30, n), d0 - 1)],
            np.minimum(lu + rng.integers(0, 6, n), d0))
        lu = np.maximum(lu, birth + 16 * 366)
        return lu.astype(np.int32), rel.astype(np.int32), dec.astype(np.int32)

    # -- planted cases ---------------------------------------------------------------------------
    def _add(self, table: dict, **row) -> None:
        for k, v in row.items():
            table[k].append(v)

    def _licence(self, person: int, status: int = LS_VALID, classes: str = "C1", changed: int | None = None) -> None:
        rng, d0 = self.rng, self.world.d0
        birth = int(self.persons.birth[person])
        first = min(d0 - 400, max(birth + 18 * 366 + int(rng.integers(0, 2000)), d0 - 9000))
        valid = d0 + int(rng.integers(200, 3000)) if status == LS_VALID else d0 + int(rng.integers(-200, 1500))
        if changed is None:
            changed = max(first, d0 - int(rng.integers(200, 2000)))
        self._add(self._planted_builders[0], person=person, classes=classes, status=status, first_issue=first,
                  valid_until=valid, changed=max(first, changed))

    def _worker(self, person: int, ctype: int, status: int = CS_ACTIVE, valid: int | None = None,
                employer: str | None = None, plate: str | None = None) -> None:
        rng, d0 = self.rng, self.world.d0
        if valid is None:
            valid = d0 - int(rng.integers(10, 300)) if status == CS_EXPIRED else d0 + int(rng.integers(100, 1500))
        city = int(self._home_city(np.array([person]))[0])
        if employer is None:
            employer = self._employer(city, ctype)
        if plate is None:
            plate = "" if ctype == CT_HAZMAT_ESCORT else plate_for(CITIES[self.world.province.city_codes[city]][1], rng)
        self._add(self._planted_builders[1], person=person, cert_type=ctype, employer=employer, plate=plate,
                  issue=d0 - int(rng.integers(300, 3000)), valid_until=valid, status=status)

    def _patient(self, person: int, risk: int, incident: bool, followup: int) -> None:
        self._add(self._planted_builders[2], person=person, diagnosis=int(self._diagnoses(1)[0]), risk=risk,
                  incident=incident, followup=followup, management=0)

    def _drug(self, person: int, status: int, last_use: int, release: int = NODATE, decision: int | None = None) -> None:
        self._add(self._planted_builders[3], person=person, status=status, last_use=last_use, release=release,
                  decision=last_use if decision is None else decision)

    def _plant(self, rule: str, variant: str, person: int) -> None:
        rng, d0 = self.rng, self.world.d0
        # Boundaries from conf/rules: the risk level, the recent-years window of drug use and the
        # days a condition may be held before the licence counts as "not cancelled".
        risk = th.condition("driver.mental").mental_min_risk_level
        years = th.condition("driver.drugs").drug_recent_years
        held = int(th.params("data.licence_not_cancelled")["held_more_than_days"])
        three = d0 - birthday_years_ago(d0, years)  # days in the last `years` calendar years

        def recent() -> int:
            return d0 - int(rng.integers(1, held))

        def old() -> int:
            return d0 - int(rng.integers(held + 1, 200))

        if rule == "driver.mental":
            if variant == "incident":
                self._licence(person)
                self._patient(person, int(rng.integers(0, 3)), True, recent())
            elif variant == "risk3":  # exactly the minimum risk level
                self._licence(person)
                self._patient(person, risk, False, recent())
            elif variant == "risk5":
                self._licence(person)
                self._patient(person, 5, bool(rng.random() < 0.5), recent())
            elif variant == "risk2":  # one level under it
                self._licence(person)
                self._patient(person, risk - 1, False, recent())
            elif variant == "cancelled":
                fu = old()
                self._licence(person, LS_CANCELLED, changed=fu + 10)
                self._patient(person, 4, True, fu)
        elif rule == "driver.drugs":
            if variant in ("community", "isolation"):
                self._licence(person)
                dec = recent()
                self._drug(person, DS_COMMUNITY if variant == "community" else DS_ISOLATION, dec - 3, decision=dec)
            elif variant == "recovery":
                self._licence(person)
                rel = recent()
                self._drug(person, DS_RECOVERY, rel - 800, release=rel, decision=rel)
            elif variant == "caught":
                self._licence(person)
                self._drug(person, DS_CAUGHT, recent())
            elif variant == "use_within_3y":  # status never updated, last use 20 days inside 3 years
                self._licence(person)
                self._drug(person, DS_CLEAN3Y, d0 - three + 20, decision=recent())
            elif variant == "released_within_3y":
                self._licence(person)
                rel = d0 - three + 20
                self._drug(person, DS_CLEAN3Y, rel - 500, release=rel, decision=recent())
            elif variant == "clean_3y1d":
                self._licence(person)
                self._drug(person, DS_CLEAN3Y, d0 - three - 1, decision=d0 - 1)
            elif variant == "cancelled":
                dec = old()
                self._licence(person, LS_CANCELLED, changed=dec + 10)
                self._drug(person, DS_COMMUNITY, dec - 2, decision=dec)
        elif rule == "data.licence_not_cancelled":
            self._licence(person)
            if variant == "mental_old":
                self._patient(person, 4, True, old())
            elif variant == "mental_30d":  # held exactly the allowed days
                self._patient(person, risk, True, d0 - held)
            elif variant == "drug_old":
                dec = d0 - int(rng.integers(held + 1, 400))
                self._drug(person, DS_ISOLATION, dec - 5, decision=dec)
            elif variant == "drug_30d":
                self._drug(person, DS_COMMUNITY, d0 - held - 5, decision=d0 - held)
        elif rule == "worker.at_risk":
            if variant == "mental_freight":
                self._licence(person, classes="A2")
                self._worker(person, CT_FREIGHT)
                self._patient(person, risk, True, recent())
            elif variant == "drug_passenger":
                self._licence(person, classes="A1")
                self._worker(person, CT_PASSENGER)
                rel = recent()
                self._drug(person, DS_RECOVERY, rel - 900, release=rel, decision=rel)
            elif variant in ("ride_hailing_clean", "taxi_clean"):
                self._licence(person)
                self._worker(person, CT_RIDE_HAILING if variant == "ride_hailing_clean" else CT_TAXI)
                lu = d0 - three - int(rng.integers(100, 1500))
                self._drug(person, DS_CLEAN3Y, lu, decision=min(d0 - 1, lu + three + 10))
            elif variant == "escort_drug":
                self._worker(person, CT_HAZMAT_ESCORT)
                dec = recent()
                self._drug(person, DS_COMMUNITY, dec - 2, decision=dec)
            elif variant == "inactive":
                fu = old()
                self._licence(person, LS_CANCELLED, classes="A2", changed=fu + 5)
                self._worker(person, CT_FREIGHT, CS_EXPIRED)
                self._patient(person, 4, True, fu)
        elif rule == "data.qualification_active":
            if variant == "licence_cancelled":
                self._licence(person, LS_CANCELLED, classes="A2", changed=d0 - int(rng.integers(40, 300)))
                self._worker(person, CT_FREIGHT)
            elif variant in ("age61", "age60"):
                self._licence(person, classes="B2")
                self._worker(person, CT_PASSENGER if variant == "age61" else CT_FREIGHT)
            elif variant == "age64":
                self._licence(person)
                self._worker(person, CT_TAXI)
            elif variant == "inactive_cancelled":
                self._licence(person, LS_CANCELLED, classes="A2", changed=d0 - int(rng.integers(40, 300)))
                self._worker(person, CT_FREIGHT, CS_CANCELLED)
        else:
            raise ValueError(f"no person-level planting for {rule}")

    def _plant_crew(self, slot: CrewSlot) -> None:
        d0, rng = self.world.d0, self.rng
        person = slot.person
        v = slot.variant
        risk = th.condition("worker.at_risk").mental_min_risk_level  # crew at risk: a registry hit as for workers
        if slot.role == "driver":
            self._licence(person, classes="A2" if rng.random() < 0.7 else "B2")
            if v == "driver_wrong_type":
                self._worker(person, CT_FREIGHT, employer=slot.carrier, plate=slot.plate)
            elif v == "driver_expired":
                self._worker(person, CT_HAZMAT_DRIVER, CS_EXPIRED, employer=slot.carrier, plate=slot.plate)
            elif v == "driver_valid_today":
                self._worker(person, CT_HAZMAT_DRIVER, valid=d0, employer=slot.carrier, plate=slot.plate)
            else:
                self._worker(person, CT_HAZMAT_DRIVER, employer=slot.carrier, plate=slot.plate)
            if v == "driver_mental":
                self._patient(person, risk, True, d0 - int(rng.integers(1, 30)))
        else:
            if rng.random() < 0.6:
                self._licence(person)
            status = CS_REVOKED if v == "escort_revoked" else CS_ACTIVE
            self._worker(person, CT_HAZMAT_ESCORT, status, employer=slot.carrier, plate=slot.plate)
            if v == "escort_drug":
                dec = d0 - int(rng.integers(1, 30))
                self._drug(person, DS_RECOVERY, dec - 700, release=dec, decision=dec)
            elif v == "escort_mental_risk2":  # one level under the crew's risk threshold
                self._patient(person, risk - 1, False, d0 - int(rng.integers(1, 60)))

    # -- evolution -------------------------------------------------------------------------------
    def evolve(self, day: int) -> None:
        """Move the state on to ``day`` (the previous day + 1): moves, status changes, newcomers."""
        rng = stream(self.world.seed, "evolve", self.k, day)
        ev = self.world.conf["evolution"]
        p, dw, regs = self.persons, self.dwellings, self.regs
        n = len(p)
        plain = p.present & ~p.special
        # Renters leave: registration closed yesterday, address unknown now.
        current = (regs.move_out == NODATE) & ~dw.planted[regs.dwelling] & plain[regs.person]
        leave = np.flatnonzero(current & (rng.random(len(regs)) < ev["move_out"]))
        regs.move_out[leave] = day - 1
        p.dwelling[regs.person[leave]] = -1
        # Someone with no address rents a vacant flat in a building with room to spare.
        vacant = np.flatnonzero((dw.use == U_VACANT) & ~dw.planted)
        homeless = np.flatnonzero(plain & (p.dwelling < 0) & (age_years(p.birth, day) >= 20))
        n_in = min(len(vacant), len(homeless), int(rng.binomial(n, ev["move_in"])) if n else 0)
        if n_in:
            let_rooms, let_occ = self._building_lets(day)
            movers = rng.choice(homeless, n_in, replace=False)
            flats = rng.choice(vacant, n_in, replace=False)
            ok = (let_rooms[dw.building[flats]] + 1 <= 9) & (let_occ[dw.building[flats]] + 1 <= 9)
            movers, flats = movers[ok], flats[ok]
            _, first = np.unique(dw.building[flats], return_index=True)
            movers, flats = movers[first], flats[first]
            dw.use[flats] = U_RENT
            dw.let[flats] = L_WHOLE
            dw.rooms[flats] = 1
            dw.area10[flats] = np.maximum(dw.area10[flats], 300)
            dw.updated[flats] = day
            p.dwelling[movers] = flats
            m = len(movers)
            regs.extend(reg_no=np.array(self._keys("reg", m), dtype=object), person=movers.astype(np.int32),
                        dwelling=flats.astype(np.int32), room_no=np.array(["01"] * m, dtype=object),
                        room_type=np.zeros(m, np.int8), move_in=np.full(m, day, np.int32),
                        move_out=np.full(m, NODATE, np.int32), rel=np.full(m, R_SELF, np.int8))
        lic = self.licences
        plain_holder = plain[lic.person] & ~self._registry_people()[lic.person] & ~self._worker_people()[lic.person]
        # Licence status changes among plain holders (never touching registry people or workers).
        flip = np.flatnonzero(plain_holder & (rng.random(len(lic)) < ev["licence_status_change"]))
        new_status = np.where(lic.status[flip] == LS_VALID, rng.choice([LS_SUSPENDED, LS_POINTS, LS_NO_REVIEW], len(flip)),
                              LS_VALID)
        lic.status[flip] = new_status
        lic.changed[flip] = day
        lic.valid_until[flip] = np.where(new_status == LS_VALID, np.maximum(lic.valid_until[flip], day + 365),
                                         lic.valid_until[flip])
        # New drug records (caught using today): a new cancellation condition for some holders.
        cand = np.flatnonzero(plain & ~self._registry_people() & ~self._worker_people() & (age_years(p.birth, day) >= 18))
        k_new = min(len(cand), int(rng.binomial(n, ev["new_drug_record"]))) if n else 0
        if k_new:
            who = rng.choice(cand, k_new, replace=False)
            self.drugs.extend(person_no=np.array(self._keys("drug", k_new), dtype=object), person=who.astype(np.int32),
                              status=np.full(k_new, DS_CAUGHT, np.int8), last_use=np.full(k_new, day, np.int32),
                              release=np.full(k_new, NODATE, np.int32), decision=np.full(k_new, day, np.int32))
        cand = np.flatnonzero(plain & ~self._registry_people() & ~self._worker_people() & (age_years(p.birth, day) >= 15))
        k_new = min(len(cand), int(rng.binomial(n, ev["new_mental_patient"]))) if n else 0
        if k_new:
            who = rng.choice(cand, k_new, replace=False)
            self.mental.extend(patient_no=np.array(self._keys("mental", k_new), dtype=object), person=who.astype(np.int32),
                               diagnosis=self._diagnoses(k_new), risk=rng.integers(0, 3, k_new).astype(np.int8),
                               incident=np.zeros(k_new, bool), followup=np.full(k_new, day, np.int32),
                               management=np.zeros(k_new, np.int8))
        # New licences for adults without one.
        has = np.zeros(n, bool)
        has[lic.person] = True
        cand = np.flatnonzero(plain & ~has & ~self._registry_people() & (age_years(p.birth, day) >= 18))
        k_new = min(len(cand), int(rng.binomial(n, ev["new_licence"]))) if n else 0
        if k_new:
            who = rng.choice(cand, k_new, replace=False)
            lic.extend(file_no=np.array(self._keys("licence", k_new), dtype=object), person=who.astype(np.int32),
                       classes=np.array(["C1"] * k_new, dtype=object), status=np.full(k_new, LS_VALID, np.int8),
                       first_issue=np.full(k_new, day, np.int32), valid_until=np.full(k_new, day + 6 * 365, np.int32),
                       changed=np.full(k_new, day, np.int32))
        # Births: a baby in a family that owns its flat.
        mothers = np.flatnonzero(plain & p.owner_home & (p.sex == 0) & (p.dwelling >= 0)
                                 & (age_years(p.birth, day) >= 22) & (age_years(p.birth, day) <= 40))
        k_new = min(len(mothers), int(rng.binomial(n, ev["births"]))) if n else 0
        if k_new:
            self._births(rng.choice(mothers, k_new, replace=False), day, rng)

    def _registry_people(self) -> np.ndarray:
        m = np.zeros(len(self.persons), bool)
        m[self.mental.person] = True
        m[self.drugs.person] = True
        return m

    def _worker_people(self) -> np.ndarray:
        m = np.zeros(len(self.persons), bool)
        m[self.workers.person] = True
        return m

    def _building_lets(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        dw, regs = self.dwellings, self.regs
        nb = len(self.building_number)
        rented = dw.use == U_RENT
        rooms = np.bincount(dw.building[rented], weights=dw.rooms[rented], minlength=nb)
        cur = (regs.move_in <= day) & ((regs.move_out == NODATE) | (regs.move_out > day)) & rented[regs.dwelling]
        occ = np.bincount(dw.building[regs.dwelling[cur]], minlength=nb)
        return rooms, occ

    def _births(self, mothers: np.ndarray, day: int, rng: np.random.Generator) -> None:
        p = self.persons
        prov = self.world.province
        m = len(mothers)
        births = day - rng.integers(0, 10, m)
        sex = (rng.random(m) < 0.51).astype(np.int8)
        district = prov.comm_district[self.dwellings.community[p.dwelling[mothers]]]
        codes = [prov.districts[d][0] for d in district.tolist()]
        ids = []
        for code, b, s in zip(codes, births.tolist(), sex.tolist(), strict=True):
            for shift in range(6):  # a newborn bucket is shared by all chunks: slot k + n·rank
                key = (code, b - shift, s)
                rank = self.newborn_buckets.get(key, 0)
                slot = self.k + self.world.n_chunks * rank
                if slot < 500:
                    self.newborn_buckets[key] = rank + 1
                    break
            # Newborns are born after every base-population birth date, so their buckets are
            # their own; the offset differs from the base population's to look unrelated.
            slot = (slot + 250 + int(bucket_offset(int(code), b - shift, s))) % 500
            first17 = f"{code}{self.world.dates.one(b - shift, 'yyyyMMdd')}{2 * slot + s:03d}"
            ids.append((first17 + check_char(first17), b - shift))
        n0 = len(p)
        surname = [str(p.name[x])[0] for x in mothers.tolist()]
        given = [GIVEN_MALE[int(i) % len(GIVEN_MALE)] if s else GIVEN_FEMALE[int(i) % len(GIVEN_FEMALE)]
                 for i, s in zip(rng.integers(0, 10_000, m), sex.tolist(), strict=True)]
        p.extend(gid=np.arange(n0, n0 + m, dtype=np.int64) + self.k * 10_000_000 + 5_000_000, sex=sex,
                 birth=np.array([b for _, b in ids], np.int32), dwelling=p.dwelling[mothers],
                 rel=np.full(m, R_CHILD, np.int8), hh=p.hh[mothers], special=np.zeros(m, bool),
                 exact=np.zeros(m, bool), present=np.ones(m, bool), owner_home=np.ones(m, bool),
                 id18=np.array([i for i, _ in ids], dtype=object),
                 name=np.array([s + g + g2 for s, g, g2 in zip(surname, given, given[::-1], strict=True)], dtype=object),
                 phone=np.array([""] * m, dtype=object), registered=np.full(m, day, np.int32))

    # -- crews ------------------------------------------------------------------------------------
    def crew_members(self) -> list[dict]:
        """The clean facts hazmat.py needs about each crew member of this chunk."""
        out = []
        for slot in self.plan.crew:
            w = self.workers
            rows = slot.worker_rows
            certs = [dict(cert_no=str(w.cert_no[r]), cert_type=int(w.cert_type[r]), status=int(w.status[r]),
                          valid_until=int(w.valid_until[r])) for r in rows]
            m = np.flatnonzero(self.mental.person == slot.person)
            d = np.flatnonzero(self.drugs.person == slot.person)
            mental = (int(self.mental.risk[m[0]]), bool(self.mental.incident[m[0]])) if len(m) else None
            drug = ((int(self.drugs.status[d[0]]), int(self.drugs.last_use[d[0]]), int(self.drugs.release[d[0]]))
                    if len(d) else None)
            out.append(dict(vehicle=slot.vehicle, role=slot.role, variant=slot.variant,
                            id18=str(self.persons.id18[slot.person]), name=str(self.persons.name[slot.person]),
                            chunk=self.k, person=slot.person, certs=certs, mental=mental, drug=drug))
        return out

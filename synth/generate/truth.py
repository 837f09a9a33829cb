"""Ground truth: the rules of domain.md §4 on the generator's clean state, with the thresholds of
``conf/rules/*.yaml`` (read through :mod:`.thresholds`, never copied here).

These are reference implementations on numpy arrays, not the pipeline's rules. They decide
what ``<truth>/<date>/flags.csv`` says. The readings of the rules' loose ends are written down
here and in docs/generator.md; the generated data avoids every case where a different
reasonable reading would give a different answer, except the documented near misses.

Person rules, on date ``D`` (defaults of conf/rules/persons.yaml in brackets):

* valid licence = status in ``licence_statuses`` [正常] and 有效期止 ≥ D; active qualification =
  status in ``qualification_statuses`` [有效] and 有效期至 ≥ D (有效期至 is inclusive).
* mental condition = incident history 有 (if ``mental_incident_history``), or risk level ≥
  ``mental_min_risk_level`` [3] (any management status).
* drug condition = a status of ``drug_control_statuses`` [社区戒毒/强制隔离戒毒/社区康复], or last
  use or release from compulsory rehab after D − ``drug_recent_years`` [3] (calendar years).
* the condition "has held > N days" (``held_more_than_days`` [30]) when D − (最近随访日期 for
  mental, 决定日期 for drugs) > N.
* age = completed years on D; "holder over ``max_age``" [60] means age ≥ max_age + 1.

Rental rules on current registrations (入住日期 ≤ D and 离开日期 empty or after D) of units
whose 房屋用途 is 出租; "unrelated" = relation 本人/合租/无; adults are ≥ ``adult_age`` [18] on D;
area per occupant counts every current occupant; ``city_overrides`` apply by the address's
4-digit city prefix.
"""

from __future__ import annotations

import numpy as np

from . import thresholds as th
from .output import NODATE
from .tables import U_RENT, UNRELATED

Flag = tuple[str, str, str, str]  # rule_id, subject_type, subject_key, detail
#: How the truth's details name the room types of ``forbidden_room_types``.
ROOM_WORDS = {"厨房": "kitchen", "卫生间": "bathroom", "阳台": "balcony", "地下室": "basement"}


def person_flags(chunk, day: int) -> list[Flag]:
    """driver.mental, driver.drugs, data.licence_not_cancelled, worker.at_risk, data.qualification_active."""
    from .population import age_years

    p, lic, wk, mh, dr = chunk.persons, chunk.licences, chunk.workers, chunk.mental, chunk.drugs
    n = len(p)
    ids = p.id18
    present = p.present
    flags: list[Flag] = []

    def per_person(rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n, bool)
        out[rows[mask]] = True
        return out

    def emit(rule: str, mask: np.ndarray, detail: str) -> None:
        for i in np.flatnonzero(mask & present).tolist():
            flags.append((rule, "person", str(ids[i]), detail))

    def registry_hits(rule: str, held_more_than_days: int | None = None) -> tuple[np.ndarray, np.ndarray, th.Condition]:
        """(mental, drugs) conditions per person under ``rule``, optionally held > N days."""
        c = th.condition(rule)
        m, d = c.mental(mh.risk, mh.incident), c.drugs(dr.status, dr.last_use, dr.release, day)
        if held_more_than_days is not None:
            m, d = m & (day - mh.followup > held_more_than_days), d & (day - dr.decision > held_more_than_days)
        zero = np.zeros(n, bool)
        return (per_person(mh.person, m) if "mental" in c.conditions else zero,
                per_person(dr.person, d) if "drugs" in c.conditions else zero, c)

    def words(c: th.Condition) -> dict[str, str]:
        return {"mental": f"mental registry incident or risk ≥ {c.mental_min_risk_level}",
                "drugs": f"drug control status or use/release within {c.drug_recent_years} years"}

    for rule in ("driver.mental", "driver.drugs", "data.licence_not_cancelled"):
        prm = th.params(rule)
        statuses = th.licence_codes(prm["licence_statuses"], f"{rule}.licence_statuses")
        valid = per_person(lic.person, np.isin(lic.status, statuses) & (lic.valid_until >= day))
        held = prm["held_more_than_days"]
        m, d, c = registry_hits(rule, held)
        if held is None:
            detail = "正常 licence; " + "; ".join(words(c)[k] for k in c.conditions)
        else:
            detail = f"licence still 正常 > {held} days after the condition"
        emit(rule, valid & (m | d), detail)

    rule = "worker.at_risk"
    prm = th.params(rule)
    active = np.isin(wk.status, th.cert_status_codes(prm["qualification_statuses"], f"{rule}.qualification_statuses")) \
        & (wk.valid_until >= day)
    has_active = per_person(wk.person, active)
    strict = per_person(wk.person, active & np.isin(wk.cert_type, th.cert_type_codes(
        prm["any_drug_record_cert_types"], f"{rule}.any_drug_record_cert_types")))
    any_drug = per_person(dr.person, np.ones(len(dr), bool))
    m, d, _ = registry_hits(rule)
    emit(rule, has_active & (m | d | (strict & any_drug)),
         "active qualification; mental/drug registry hit (any drug record for ride-hailing)")

    rule = "data.qualification_active"
    prm = th.params(rule)
    active = np.isin(wk.status, th.cert_status_codes(prm["qualification_statuses"], f"{rule}.qualification_statuses")) \
        & (wk.valid_until >= day)
    cancelled = per_person(lic.person, np.isin(lic.status, th.licence_codes(
        prm["cancelled_licence_statuses"], f"{rule}.cancelled_licence_statuses")))
    age = age_years(p.birth, day)
    emit(rule, per_person(wk.person, active) & (cancelled | (age > prm["max_age"])),
         f"active qualification although licence 注销 or holder over {prm['max_age']}")
    return flags


def current_registrations(regs, day: int) -> np.ndarray:
    return (regs.move_in <= day) & ((regs.move_out == NODATE) | (regs.move_out > day))


def _per_dwelling(rule: str, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Every scalar parameter of ``rule`` as an array over dwellings (city overrides applied)."""
    base = th.params(rule)
    out = {k: np.full(len(codes), v) for k, v in base.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    overrides = th.city_overrides(rule)
    if overrides and len(codes):
        city = np.array([c[:4] for c in codes.tolist()], dtype=object)
        for code, values in overrides.items():
            where = city == code
            for k, v in values.items():
                if k in out:
                    out[k][where] = v
    return out


def rental_flags(chunk, day: int) -> list[Flag]:
    """rental.overcrowded (subject address code) and rental.concentrated (16-digit building key)."""
    from .population import age_years

    p, dw, regs = chunk.persons, chunk.dwellings, chunk.regs
    nd = len(dw)
    rule = "rental.overcrowded"
    prm = th.params(rule)
    lim = _per_dwelling(rule, dw.code)
    forbidden = th.room_type_codes(prm["forbidden_room_types"], f"{rule}.forbidden_room_types")
    by_bed = th.letting_codes(prm["bed_letting_modes"], f"{rule}.bed_letting_modes")
    rented = dw.use == U_RENT
    cur = current_registrations(regs, day) & rented[regs.dwelling]
    r_dw = regs.dwelling[cur]
    r_rel = regs.rel[cur]
    r_adult = age_years(p.birth[regs.person[cur]], day) >= lim["adult_age"][r_dw]
    unrelated = np.isin(r_rel, UNRELATED)
    occ = np.bincount(r_dw, minlength=nd)
    ua = np.bincount(r_dw[unrelated & r_adult], minlength=nd)
    # area10 (tenths of m²) below the limit per occupant × occupants → too little area; in tenths
    # so that exactly 10.0 m² per occupant is not below 10.
    per_occupant10 = np.rint(10 * np.where(dw.self_contained, lim["max_area_per_occupant_m2"],
                                           lim["max_area_per_occupant_m2_not_self_contained"])).astype(np.int64)
    test_area = (ua >= lim["min_unrelated_adults"]) & (dw.area10 < per_occupant10 * occ)
    # more than max_non_family_per_room unrelated occupants in one room.
    room_key = np.array([f"{d}|{r}" for d, r in zip(r_dw[unrelated].tolist(), regs.room_no[cur][unrelated].tolist(), strict=True)],
                        dtype=object)
    test_room = np.zeros(nd, bool)
    if len(room_key):
        keys, counts = np.unique(room_key, return_counts=True)
        dwell = np.array([int(k.split("|")[0]) for k in keys.tolist()], dtype=np.int64)
        over = counts > lim["max_non_family_per_room"][dwell]
        test_room[dwell[over]] = True
    test_kitchen = np.zeros(nd, bool)
    test_kitchen[r_dw[np.isin(regs.room_type[cur], forbidden)]] = True
    test_bed = np.isin(dw.let, by_bed)
    flags: list[Flag] = []
    hit = rented & (test_area | test_room | test_kitchen | test_bed)
    for i in np.flatnonzero(hit).tolist():
        why = [w for w, t in ((f"≥{lim['min_unrelated_adults'][i]} unrelated adults and too little area per occupant", test_area[i]),
                              (f">{lim['max_non_family_per_room'][i]} unrelated occupants in one room", test_room[i]),
                              ("/".join(ROOM_WORDS.get(r, r) for r in prm["forbidden_room_types"]) + " let for living",
                               test_kitchen[i]),
                              ("let by bed", test_bed[i])) if t]
        flags.append(("rental.overcrowded", "address", str(dw.code[i]),
                      f"{occ[i]} occupants, {dw.area10[i] / 10:.1f} m²: " + "; ".join(why)))
    rule = "rental.concentrated"
    nb = len(chunk.building_number)
    rooms_let = np.bincount(dw.building[rented], weights=dw.rooms[rented], minlength=nb)
    occ_let = np.bincount(dw.building[r_dw], minlength=nb)
    first_unit = np.full(nb, -1)
    first_unit[dw.building[::-1]] = np.arange(nd)[::-1]
    lim_b = _per_dwelling(rule, dw.code[first_unit]) if nb else {"min_rooms_let": np.zeros(0), "min_occupants": np.zeros(0)}
    for b in np.flatnonzero((rooms_let >= lim_b["min_rooms_let"]) | (occ_let >= lim_b["min_occupants"])).tolist():
        flags.append(("rental.concentrated", "building", str(dw.code[first_unit[b]])[:16],
                      f"{int(rooms_let[b])} rooms let, {int(occ_let[b])} occupants in let units"))
    return flags

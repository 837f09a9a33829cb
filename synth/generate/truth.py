"""Ground truth: the rules of domain.md §4 (default thresholds) on the generator's clean state.

These are reference implementations on numpy arrays, not the pipeline's rules. They decide
what ``<truth>/<date>/flags.csv`` says. The readings of the rules' loose ends are written down
here and in docs/generator.md; the generated data avoids every case where a different
reasonable reading would give a different answer, except the documented near misses.

Person rules, on date ``D``:

* valid licence = status 正常 and 有效期止 ≥ D; active qualification = status 有效 and
  有效期至 ≥ D (有效期至 is inclusive).
* mental condition = incident history 有, or risk level ≥ 3 (any management status).
* drug condition = status 社区戒毒/强制隔离戒毒/社区康复, or last use after D − 3 years, or release
  from compulsory rehab after D − 3 years (calendar years).
* the condition "has held > 30 days" when D − (最近随访日期 for mental, 决定日期 for drugs) > 30.
* age = completed years on D; "holder > 60" means age ≥ 61.

Rental rules on current registrations (入住日期 ≤ D and 离开日期 empty or after D) of units
whose 房屋用途 is 出租; "unrelated" = relation 本人/合租/无; adults are ≥ 18 on D; area per
occupant counts every current occupant.
"""

from __future__ import annotations

import numpy as np

from .output import NODATE, day_number, from_day_number, years_before
from .tables import (
    CS_ACTIVE,
    CT_RIDE_HAILING,
    DRUG_CONTROL,
    L_BED,
    LS_CANCELLED,
    LS_VALID,
    NOT_FOR_LIVING,
    U_RENT,
    UNRELATED,
)

Flag = tuple[str, str, str, str]  # rule_id, subject_type, subject_key, detail


def mental_condition(risk: np.ndarray, incident: np.ndarray) -> np.ndarray:
    return (np.asarray(risk) >= 3) | np.asarray(incident, dtype=bool)


def drug_condition(status, last_use, release, day: int) -> np.ndarray:
    cutoff = day_number(years_before(from_day_number(day), 3))
    status, last_use, release = np.asarray(status), np.asarray(last_use), np.asarray(release)
    return (np.isin(status, DRUG_CONTROL) | ((last_use != NODATE) & (last_use > cutoff))
            | ((release != NODATE) & (release > cutoff)))


def person_flags(chunk, day: int) -> list[Flag]:
    """driver.mental, driver.drugs, worker.at_risk, data.licence_not_cancelled, data.qualification_active."""
    from .population import age_years

    p, lic, wk, mh, dr = chunk.persons, chunk.licences, chunk.workers, chunk.mental, chunk.drugs
    n = len(p)
    ids = p.id18
    flags: list[Flag] = []
    valid = np.zeros(n, bool)
    v = (lic.status == LS_VALID) & (lic.valid_until >= day)
    valid[lic.person[v]] = True
    cancelled = np.zeros(n, bool)
    cancelled[lic.person[lic.status == LS_CANCELLED]] = True
    m_cond = np.zeros(n, bool)
    m_old = np.zeros(n, bool)
    mc = mental_condition(mh.risk, mh.incident)
    m_cond[mh.person[mc]] = True
    m_old[mh.person[mc & (day - mh.followup > 30)]] = True
    d_cond = np.zeros(n, bool)
    d_old = np.zeros(n, bool)
    any_drug = np.zeros(n, bool)
    any_drug[dr.person] = True
    dc = drug_condition(dr.status, dr.last_use, dr.release, day)
    d_cond[dr.person[dc]] = True
    d_old[dr.person[dc & (day - dr.decision > 30)]] = True
    active = (wk.status == CS_ACTIVE) & (wk.valid_until >= day)
    has_active = np.zeros(n, bool)
    has_active[wk.person[active]] = True
    ride = np.zeros(n, bool)
    ride[wk.person[active & (wk.cert_type == CT_RIDE_HAILING)]] = True
    present = p.present

    def emit(rule: str, mask: np.ndarray, detail: str) -> None:
        for i in np.flatnonzero(mask & present).tolist():
            flags.append((rule, "person", str(ids[i]), detail))

    emit("driver.mental", valid & m_cond, "正常 licence; mental registry incident or risk ≥ 3")
    emit("driver.drugs", valid & d_cond, "正常 licence; drug control status or use/release within 3 years")
    emit("data.licence_not_cancelled", valid & (m_old | d_old), "licence still 正常 > 30 days after the condition")
    emit("worker.at_risk", has_active & (m_cond | d_cond | (ride & any_drug)),
         "active qualification; mental/drug registry hit (any drug record for ride-hailing)")
    age = age_years(p.birth, day)
    emit("data.qualification_active", has_active & (cancelled | (age > 60)),
         "active qualification although licence 注销 or holder over 60")
    return flags


def current_registrations(regs, day: int) -> np.ndarray:
    return (regs.move_in <= day) & ((regs.move_out == NODATE) | (regs.move_out > day))


def rental_flags(chunk, day: int) -> list[Flag]:
    """rental.overcrowded (subject address code) and rental.concentrated (16-digit building key)."""
    from .population import age_years

    p, dw, regs = chunk.persons, chunk.dwellings, chunk.regs
    nd = len(dw)
    rented = dw.use == U_RENT
    cur = current_registrations(regs, day) & rented[regs.dwelling]
    r_dw = regs.dwelling[cur]
    r_rel = regs.rel[cur]
    r_adult = age_years(p.birth[regs.person[cur]], day) >= 18
    unrelated = np.isin(r_rel, UNRELATED)
    occ = np.bincount(r_dw, minlength=nd)
    ua = np.bincount(r_dw[unrelated & r_adult], minlength=nd)
    limit10 = np.where(dw.self_contained, 100, 50) * occ  # area10 below this → too little area
    test_area = (ua >= 4) & (dw.area10 < limit10)
    # > 2 unrelated occupants in one room.
    room_key = np.array([f"{d}|{r}" for d, r in zip(r_dw[unrelated].tolist(), regs.room_no[cur][unrelated].tolist(), strict=True)],
                        dtype=object)
    test_room = np.zeros(nd, bool)
    if len(room_key):
        keys, counts = np.unique(room_key, return_counts=True)
        for key in keys[counts > 2].tolist():
            test_room[int(key.split("|")[0])] = True
    test_kitchen = np.zeros(nd, bool)
    test_kitchen[r_dw[np.isin(regs.room_type[cur], NOT_FOR_LIVING)]] = True
    test_bed = dw.let == L_BED
    flags: list[Flag] = []
    hit = rented & (test_area | test_room | test_kitchen | test_bed)
    for i in np.flatnonzero(hit).tolist():
        why = [w for w, t in (("≥4 unrelated adults and too little area per occupant", test_area[i]),
                              (">2 unrelated occupants in one room", test_room[i]),
                              ("kitchen/bathroom/balcony/basement let for living", test_kitchen[i]),
                              ("let by bed", test_bed[i])) if t]
        flags.append(("rental.overcrowded", "address", str(dw.code[i]),
                      f"{occ[i]} occupants, {dw.area10[i] / 10:.1f} m²: " + "; ".join(why)))
    nb = len(chunk.building_number)
    rooms_let = np.bincount(dw.building[rented], weights=dw.rooms[rented], minlength=nb)
    occ_let = np.bincount(dw.building[r_dw], minlength=nb)
    first_unit = np.full(nb, -1)
    first_unit[dw.building[::-1]] = np.arange(nd)[::-1]
    for b in np.flatnonzero((rooms_let >= 10) | (occ_let >= 10)).tolist():
        flags.append(("rental.concentrated", "building", str(dw.code[first_unit[b]])[:16],
                      f"{int(rooms_let[b])} rooms let, {int(occ_let[b])} occupants in let units"))
    return flags

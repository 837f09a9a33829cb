"""Formatting a chunk's clean state as the departments' extracts (shared/extracts.md).

Each function returns the text of the rows (with the file's own damage: IDs, names, phones,
repeated rows, quoted free text) and the person records for the truth. Damage is drawn from a
stream keyed by (dataset, chunk, date), so every department damages its copy independently.
"""

from __future__ import annotations

import numpy as np

from .geo import stream
from .noise import damage_ids, damage_names, duplicate_order, format_phones, punctuate
from .output import quote
from .population import Chunk
from .tables import (
    CERT_STATUS,
    CERT_TYPES,
    CS_ACTIVE,
    CS_EXPIRED,
    DRUG_STATUS,
    LETTINGS,
    LICENCE_STATUS,
    MANAGEMENT,
    RELATIONS,
    ROOM_TYPES,
    U_COMMERCIAL,
    U_OWN,
    USES,
)
from .vocab import DIAGNOSES

#: Datasets written from the population chunks, in writing order.
CHUNK_DATASETS = ("persons", "housing_units", "residence_registrations", "driving_licences",
                  "transport_workers", "mental_health_registry", "drug_registry")

Records = list[tuple[str, str, str, str, str]]  # dataset, record_key, role, true_id_no, id_damage
ADDRESS_EXTRAS = (",东门", ",北区", "\n(西侧)", ",二期")
NAME_EXTRAS = (",二分厂", ",南区", "\n(原厂区)", ",有限合伙")


class Formatter:
    """Formats one chunk on one date; holds the noise settings and the date tables."""

    def __init__(self, chunk: Chunk, day: int) -> None:
        self.chunk = chunk
        self.day = day
        self.world = chunk.world
        self.noise = self.world.noise
        self.dates = self.world.dates

    def _rng(self, dataset: str):
        return stream(self.world.seed, "noise", dataset, self.chunk.k, self.day)

    def _lines(self, columns: list[list[str]], rng) -> tuple[str, int]:
        n = len(columns[0]) if columns else 0
        order = duplicate_order(n, rng, self.noise["duplicate_rows"])
        rows = [",".join(r) for r in zip(*columns, strict=True)]
        text = "\n".join(rows[i] for i in order.tolist())
        return (text + "\n") if n else "", len(order)

    def _ids(self, persons: np.ndarray, rng, allow_missing: bool = True):
        true = self.chunk.persons.id18[persons].tolist()
        written, damage = damage_ids(true, rng, self.noise, allow_missing=allow_missing)
        return true, written, damage

    def _names(self, persons: np.ndarray, rng) -> list[str]:
        return damage_names(self.chunk.persons.name[persons].tolist(), rng, self.noise)

    # -- persons -------------------------------------------------------------------------------
    def persons(self) -> tuple[str, int, Records]:
        rng = self._rng("persons")
        c = self.chunk
        p = c.persons
        idx = np.flatnonzero(p.present)
        true, ids, dmg = self._ids(idx, rng, allow_missing=False)
        names = self._names(idx, rng)
        sex = np.where(p.sex[idx] == 1, "男", "女").tolist()
        birth = self.dates.fmt(p.birth[idx], "yyyy/MM/dd")
        phones = format_phones(p.phone[idx].tolist(), rng, self.noise)
        dw = p.dwelling[idx]
        addr = np.where(dw >= 0, c.dwellings.code[np.maximum(dw, 0)], "").tolist()
        reg = self.dates.fmt(p.registered[idx], "yyyy/MM/dd")
        text, n = self._lines([ids, names, sex, birth, phones, addr, reg], rng)
        records = [("persons", w, "resident", t, d) for w, t, d in zip(ids, true, dmg, strict=True)]
        return text, n, records

    def housing_units(self) -> tuple[str, int, Records]:
        rng = self._rng("housing_units")
        dw = self.chunk.dwellings
        true, ids, dmg = self._ids(dw.owner, rng)
        area = [f"{a / 10:.1f}" for a in dw.area10.tolist()]
        rooms = dw.rooms.astype(str).tolist()
        sc = np.where(dw.self_contained, "是", "否").tolist()
        use = np.array(USES, dtype=object)[dw.use].tolist()
        let = np.array(LETTINGS, dtype=object)[dw.let].tolist()
        upd = self.dates.fmt(dw.updated, "yyyy-MM-dd")
        codes = dw.code.tolist()
        text, n = self._lines([codes, area, rooms, sc, use, let, ids, upd], rng)
        roles = np.where(dw.use == U_OWN, "owner", "landlord").tolist()
        records = [("housing_units", k, r, t, d) for k, r, t, d in zip(codes, roles, true, dmg, strict=True)]
        return text, n, records

    def residence_registrations(self) -> tuple[str, int, Records]:
        rng = self._rng("residence_registrations")
        c = self.chunk
        r = c.regs
        true, ids, dmg = self._ids(r.person, rng)
        names = self._names(r.person, rng)
        addr = c.dwellings.code[r.dwelling].tolist()
        rtype = np.array(ROOM_TYPES, dtype=object)[r.room_type].tolist()
        mi = self.dates.fmt(r.move_in, "yyyy/MM/dd")
        mo = self.dates.fmt(r.move_out, "yyyy/MM/dd")
        rel = np.array(RELATIONS, dtype=object)[r.rel].tolist()
        keys = r.reg_no.tolist()
        text, n = self._lines([keys, ids, names, addr, r.room_no.tolist(), rtype, mi, mo, rel], rng)
        records = [("residence_registrations", k, "occupant", t, d) for k, t, d in zip(keys, true, dmg, strict=True)]
        return text, n, records

    def driving_licences(self) -> tuple[str, int, Records]:
        rng = self._rng("driving_licences")
        lic = self.chunk.licences
        true, ids, dmg = self._ids(lic.person, rng)
        names = self._names(lic.person, rng)
        status = np.array(LICENCE_STATUS, dtype=object)[lic.status].tolist()
        f = "yyyy-MM-dd"
        keys = lic.file_no.tolist()
        text, n = self._lines([keys, ids, names, lic.classes.tolist(), status, self.dates.fmt(lic.first_issue, f),
                               self.dates.fmt(lic.valid_until, f), self.dates.fmt(lic.changed, f)], rng)
        records = [("driving_licences", k, "holder", t, d) for k, t, d in zip(keys, true, dmg, strict=True)]
        return text, n, records

    def transport_workers(self) -> tuple[str, int, Records]:
        rng = self._rng("transport_workers")
        wk = self.chunk.workers
        true, ids, dmg = self._ids(wk.person, rng)
        names = self._names(wk.person, rng)
        # A qualification past its date shows as 过期 even if nobody changed its status.
        status = np.where((wk.status == CS_ACTIVE) & (wk.valid_until < self.day), CS_EXPIRED, wk.status)
        employer = [quote(e) for e in punctuate(wk.employer.tolist(), rng, self.noise["quoted_fields"], NAME_EXTRAS)]
        f = "yyyyMMdd"
        keys = wk.cert_no.tolist()
        text, n = self._lines([keys, ids, names, np.array(CERT_TYPES, dtype=object)[wk.cert_type].tolist(), employer,
                               wk.plate.tolist(), self.dates.fmt(wk.issue, f), self.dates.fmt(wk.valid_until, f),
                               np.array(CERT_STATUS, dtype=object)[status].tolist()], rng)
        records = [("transport_workers", k, "worker", t, d) for k, t, d in zip(keys, true, dmg, strict=True)]
        return text, n, records

    def mental_health_registry(self) -> tuple[str, int, Records]:
        rng = self._rng("mental_health_registry")
        mh = self.chunk.mental
        true, ids, dmg = self._ids(mh.person, rng)
        names = self._names(mh.person, rng)
        keys = mh.patient_no.tolist()
        text, n = self._lines([keys, ids, names, np.array(DIAGNOSES, dtype=object)[mh.diagnosis].tolist(),
                               mh.risk.astype(str).tolist(), np.where(mh.incident, "有", "无").tolist(),
                               self.dates.fmt(mh.followup, "yyyy-MM-dd"),
                               np.array(MANAGEMENT, dtype=object)[mh.management].tolist()], rng)
        records = [("mental_health_registry", k, "patient", t, d) for k, t, d in zip(keys, true, dmg, strict=True)]
        return text, n, records

    def drug_registry(self) -> tuple[str, int, Records]:
        rng = self._rng("drug_registry")
        dr = self.chunk.drugs
        true, ids, dmg = self._ids(dr.person, rng)
        names = self._names(dr.person, rng)
        f = "yyyy/MM/dd"
        keys = dr.person_no.tolist()
        text, n = self._lines([keys, ids, names, np.array(DRUG_STATUS, dtype=object)[dr.status].tolist(),
                               self.dates.fmt(dr.last_use, f), self.dates.fmt(dr.release, f),
                               self.dates.fmt(dr.decision, f)], rng)
        records = [("drug_registry", k, "person", t, d) for k, t, d in zip(keys, true, dmg, strict=True)]
        return text, n, records

    # -- reference -------------------------------------------------------------------------------
    def addresses(self) -> tuple[str, int]:
        """The chunk's dwellings as rows of the addresses reference (no damage but free text)."""
        rng = self._rng("addresses")
        dw = self.chunk.dwellings
        texts = [quote(t) for t in punctuate(dw.text.tolist(), rng, self.noise["quoted_fields"], ADDRESS_EXTRAS)]
        kind = np.where(dw.use == U_COMMERCIAL, "商业", "住宅").tolist()
        lon = [f"{x:.6f}" for x in dw.lon.tolist()]
        lat = [f"{x:.6f}" for x in dw.lat.tolist()]
        rows = [",".join(r) for r in zip(dw.code.tolist(), texts, lon, lat, dw.grid.tolist(), kind, strict=True)]
        return ("\n".join(rows) + "\n") if rows else "", len(rows)


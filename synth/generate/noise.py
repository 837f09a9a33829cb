"""Damage the way departments' extracts are damaged: IDs, names, phones, repeated rows.

Every function draws from the ``rng`` it is given and touches one record at a time
independently, so the same person can be clean in one department's file and damaged in
another's. ID damage kinds are the ``id_damage`` values of the truth's ``person_records.csv``.
"""

from __future__ import annotations

import numpy as np

from .vocab import HOMOPHONES, TRADITIONAL

ID_DAMAGES = ("none", "legacy15", "fullwidth", "lowercase_x", "truncated", "typo", "missing")
_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_ID_KINDS = ("id_legacy15", "id_fullwidth", "id_truncated", "id_typo", "id_missing")


def excel_scientific(id18: str) -> str:
    """What Excel's General format shows for an 18-digit number: ``3.20115E+17``."""
    mantissa = (id18[0] + "." + id18[1:6]).rstrip("0").rstrip(".")
    return f"{mantissa}E+17"


def damage_ids(
    ids: list[str], rng: np.random.Generator, noise: dict, allow_missing: bool = True
) -> tuple[list[str], list[str]]:
    """Return (written IDs, damage kind per record) for clean 18-character IDs.

    ``legacy15`` only happens to people born in the 1900s (a 15-digit ID has no century) and
    ``truncated`` only to IDs ending in a digit (Excel leaves ``…X`` alone as text); other
    draws on those records leave them clean.
    """
    n = len(ids)
    written = list(ids)
    damage = ["none"] * n
    if n == 0:
        return written, damage
    rates = [float(noise[k]) for k in _ID_KINDS]
    if not allow_missing:
        rates[-1] = 0.0
    edges = np.cumsum(rates)
    u = rng.random(n)
    kind = np.searchsorted(edges, u, side="right")  # == len(rates) → clean
    aux = rng.random(n)
    aux2 = rng.integers(0, 10_000, n)
    lower_x = float(noise["id_lowercase_x"])
    for i in np.flatnonzero(kind < len(rates)).tolist():
        s = ids[i]
        k = _ID_KINDS[kind[i]]
        if k == "id_legacy15":
            if s[6:8] == "19":
                written[i], damage[i] = s[:6] + s[8:17], "legacy15"
        elif k == "id_fullwidth":
            written[i], damage[i] = s.translate(_FULLWIDTH), "fullwidth"
        elif k == "id_truncated":
            if s[17] != "X":
                written[i] = s[:15] + "000" if aux[i] < 0.5 else excel_scientific(s)
                damage[i] = "truncated"
        elif k == "id_typo":
            pos = int(aux2[i] % 17)
            old = int(s[pos])
            new = (old + 1 + int(aux2[i] // 17) % 9) % 10
            written[i], damage[i] = s[:pos] + str(new) + s[pos + 1 :], "typo"
        else:
            written[i], damage[i] = "", "missing"
    if lower_x > 0:
        for i in np.flatnonzero((kind == len(rates)) & (aux < lower_x)).tolist():
            if ids[i][17] == "X":
                written[i], damage[i] = ids[i][:17] + "x", "lowercase_x"
    return written, damage


def damage_names(names: list[str], rng: np.random.Generator, noise: dict) -> list[str]:
    """Traditional/variant characters (張三 for 张三) and same-sound typos, per record."""
    n = len(names)
    out = list(names)
    if n == 0:
        return out
    u = rng.random(n)
    pos = rng.integers(0, 3, n)
    variant = float(noise["name_variant"])
    typo = float(noise["name_typo"])
    for i in np.flatnonzero(u < variant + typo).tolist():
        name = names[i]
        if u[i] < variant:
            out[i] = "".join(TRADITIONAL.get(c, c) for c in name)
        else:
            chars = list(name)
            candidates = [j for j in range(1, len(chars)) if chars[j] in HOMOPHONES]
            if candidates:
                j = candidates[int(pos[i]) % len(candidates)]
                chars[j] = HOMOPHONES[chars[j]]
                out[i] = "".join(chars)
    return out


def format_phones(phones: list[str], rng: np.random.Generator, noise: dict) -> list[str]:
    """``+86 `` prefixes and spaces (``138 1234 5678``) at the configured rates."""
    n = len(phones)
    out = list(phones)
    if n == 0:
        return out
    u = rng.random(n)
    v = rng.random(n)
    plus = float(noise["phone_plus86"])
    spaces = float(noise["phone_spaces"])
    for i in np.flatnonzero((u < plus) | (v < spaces)).tolist():
        p = phones[i]
        if not p:
            continue
        if v[i] < spaces:
            p = f"{p[:3]} {p[3:7]} {p[7:]}"
        if u[i] < plus:
            p = "+86 " + p
        out[i] = p
    return out


def duplicate_order(n: int, rng: np.random.Generator, rate: float, window: int = 50) -> np.ndarray:
    """Row order with a share ``rate`` of rows repeated a few rows after the original."""
    if n == 0 or rate <= 0:
        return np.arange(n)
    dups = np.flatnonzero(rng.random(n) < rate)
    if len(dups) == 0:
        return np.arange(n)
    keys = np.concatenate([np.arange(n, dtype=np.float64), dups + rng.uniform(0.5, window, len(dups))])
    rows = np.concatenate([np.arange(n), dups])
    return rows[np.argsort(keys, kind="stable")]


def punctuate(texts: list[str], rng: np.random.Generator, rate: float, extras: tuple[str, ...]) -> list[str]:
    """Append a comma or line-break suffix to a share of free-text fields (forces CSV quoting)."""
    n = len(texts)
    if n == 0 or rate <= 0:
        return list(texts)
    out = list(texts)
    u = rng.random(n)
    pick = rng.integers(0, len(extras), n)
    for i in np.flatnonzero(u < rate).tolist():
        out[i] = texts[i] + extras[int(pick[i])]
    return out

"""Writing deliveries: date formatting tables, CSV quoting, part files.

A :class:`Delivery` is one ``<inbox>/<dataset>/<YYYYMMDD>/`` folder. It receives already
formatted text in chunks, rolls to a new ``_partNN`` file at a chunk boundary once a part
holds ``max_rows`` records, hashes the bytes as they are written and finally names the files
(a single part loses its ``_part01`` suffix). Manifests are written by the caller after
every delivery is closed (with :func:`gridrisk.delivery.write_manifest`, the library's one
manifest writer), so a manifest is always the last file of its folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gridrisk.delivery import ManifestFile

EPOCH = dt.date(1970, 1, 1)
#: Marks an empty date in the int32 day-number columns.
NODATE = -(2**31) + 1


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def from_day_number(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def years_before(d: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (29 February → 28 February)."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


class DateTable:
    """Day numbers → date strings in the departments' formats, by table lookup.

    Formatting a million dates with ``strftime`` costs a second; indexing a prepared table
    costs milliseconds. Day numbers equal to :data:`NODATE` become the empty string.
    """

    LO = day_number(dt.date(1900, 1, 1))
    HI = day_number(dt.date(2101, 1, 1))

    def __init__(self) -> None:
        iso = np.datetime_as_string(np.arange(self.LO, self.HI).astype("datetime64[D]"))
        iso_list = iso.tolist()
        self._tables: dict[str, np.ndarray] = {}
        for fmt, conv in (
            ("yyyy-MM-dd", lambda s: s),
            ("yyyy/MM/dd", lambda s: s.replace("-", "/")),
            ("yyyyMMdd", lambda s: s.replace("-", "")),
        ):
            table = np.empty(len(iso_list) + 1, dtype=object)
            table[:-1] = [conv(s) for s in iso_list]
            table[-1] = ""
            self._tables[fmt] = table
        hh = np.arange(86400) // 3600
        mm = np.arange(86400) // 60 % 60
        ss = np.arange(86400) % 60
        self.hhmmss = np.array([f"{a:02d}{b:02d}{c:02d}" for a, b, c in zip(hh, mm, ss, strict=True)], dtype=object)
        self.hh_mm_ss = np.array([f"{a:02d}:{b:02d}:{c:02d}" for a, b, c in zip(hh, mm, ss, strict=True)], dtype=object)

    @staticmethod
    def compact(days) -> list[str]:
        """Day numbers → ``yyyyMMdd`` without building the tables (for a few values)."""
        return [from_day_number(int(d)).strftime("%Y%m%d") for d in np.asarray(days).tolist()]

    def fmt(self, days: np.ndarray, fmt: str) -> list[str]:
        days = np.asarray(days, dtype=np.int64)
        idx = days - self.LO
        idx = np.where(days == NODATE, len(self._tables[fmt]) - 1, idx)
        return self._tables[fmt][idx].tolist()

    def one(self, day: int, fmt: str) -> str:
        return self.fmt(np.array([day]), fmt)[0]

    def timestamps(self, seconds: np.ndarray, style: str) -> list[str]:
        """Local seconds since the epoch → ``yyyy-MM-dd HH:mm:ss`` / ``iso`` / ``yyMMddHHmmss``."""
        seconds = np.asarray(seconds, dtype=np.int64)
        days = seconds // 86400
        sod = seconds % 86400
        dates = self.fmt(days, "yyyy-MM-dd")
        if style == "space":
            return [f"{d} {t}" for d, t in zip(dates, self.hh_mm_ss[sod].tolist(), strict=True)]
        if style == "iso":
            return [f"{d}T{t}+08:00" for d, t in zip(dates, self.hh_mm_ss[sod].tolist(), strict=True)]
        if style == "bcd":
            compact = self.fmt(days, "yyyyMMdd")
            return [d[2:] + t for d, t in zip(compact, self.hhmmss[sod].tolist(), strict=True)]
        raise ValueError(style)


def quote(value: str) -> str:
    """RFC 4180: quote a field when it holds a comma, a quote or a line break."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def unit_uniform(*parts: object) -> float:
    """A deterministic number in [0, 1) from a key (for per-file coin flips)."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


@dataclass
class _Part:
    path: Path
    handle: object
    digest: "hashlib._Hash"
    rows: int = 0
    pending_newline: bool = False
    compressor: object | None = None


@dataclass
class Delivery:
    """One dataset folder for one date; see the module docstring.

    ``encoding`` is a Python codec name; ``utf-8-sig`` writes one BOM at the start of each file.
    ``gzip=True`` compresses (deterministically: no name, mtime 0). ``drop_newline_rate`` is the
    chance that a file's last record has no trailing newline (decided per file from ``key``).
    """

    folder: Path
    stem: str
    ext: str
    encoding: str = "utf-8"
    header: str | None = None
    max_rows: int = 500_000
    gzip: bool = False
    drop_newline_rate: float = 0.0
    key: tuple = ()
    files: list[ManifestFile] = field(default_factory=list)  # filled by close()
    _part: _Part | None = None
    _count: int = 0
    _closed: list[_Part] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding

    # -- writing -------------------------------------------------------------------------
    def _emit(self, data: bytes) -> None:
        part = self._part
        assert part is not None
        if part.compressor is not None:
            data = part.compressor.compress(data)
        if data:
            part.digest.update(data)
            part.handle.write(data)

    def _open(self) -> None:
        self._count += 1
        path = self.folder / f"{self.stem}_part{self._count:02d}.{self.ext}.tmp"
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if self.gzip else None
        self._part = _Part(path, open(path, "wb"), hashlib.sha256(), compressor=compressor)
        if self.encoding == "utf-8-sig":
            self._emit(b"\xef\xbb\xbf")
        if self.header is not None:
            self._emit((self.header + "\n").encode(self._codec))

    def write(self, text: str, records: int) -> None:
        """Append ``records`` records (``text`` ends with a newline, or is empty)."""
        if records == 0 and self._part is not None:
            return
        if self._part is None:
            self._open()
        elif self._part.rows and self._part.rows + records > self.max_rows:
            self._close_part()
            self._open()
        part = self._part
        assert part is not None
        if not text:
            return
        body = text[:-1] if text.endswith("\n") else text
        if part.pending_newline:
            body = "\n" + body
        self._emit(body.encode(self._codec))
        part.pending_newline = True
        part.rows += records

    def _close_part(self) -> None:
        part = self._part
        assert part is not None
        drop = unit_uniform(*self.key, self._count) < self.drop_newline_rate
        if part.pending_newline and not drop:
            self._emit(b"\n")
        if part.compressor is not None:
            tail = part.compressor.flush()
            part.digest.update(tail)
            part.handle.write(tail)
        part.handle.close()
        self._closed.append(part)
        self._part = None

    def close(self) -> list[ManifestFile]:
        """Finish the last part, give the files their final names and return their manifest entries."""
        if self._part is None and not self._closed:
            self._open()  # an empty delivery still has a file with its header
        if self._part is not None:
            self._close_part()
        single = len(self._closed) == 1
        self.files = []
        for i, part in enumerate(self._closed, start=1):
            name = f"{self.stem}.{self.ext}" if single else f"{self.stem}_part{i:02d}.{self.ext}"
            os.replace(part.path, self.folder / name)
            self.files.append(ManifestFile(name, part.rows, part.digest.hexdigest()))
        return self.files


def write_bytes_file(path: Path, data: bytes, rows: int) -> ManifestFile:
    """Write a whole file at once (the GeoJSON references) and return its manifest entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ManifestFile(path.name, rows, hashlib.sha256(data).hexdigest())

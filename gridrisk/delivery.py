"""Write a delivery folder the way ``shared/extracts.md`` describes it: data files, then the manifest.

The one manifest writer: the synthetic generator (``synth.generate``) and the tests that
hand-write input files both call :func:`write_manifest`, so every delivery follows one contract.

Example:
    >>> import tempfile, json, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> folder = write_delivery(d, "fire_units", "2026-11-01", "snapshot",
    ...     {"fire_units_20261101.csv": ("单位编号\\nU1\\n".encode(), 1)})
    >>> json.loads((folder / "manifest.json").read_text())["files"][0]["rows"]
    1
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
#: The datasets delivered in hourly parts as well as daily (docs/hazmat.md, "Hourly deliveries").
HOURLY_DATASETS = ("gps_points", "waybills")


def hourly_manifest(hour: int) -> str:
    """The manifest of one hour's part of a day's delivery, ``manifest_HH.json`` (a dataset
    delivered hourly: gps_points, waybills — docs/hazmat.md, "Hourly deliveries")."""
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0–23, got {hour}")
    return f"manifest_{hour:02d}.json"


@dataclass(frozen=True)
class ManifestFile:
    """One data file as its delivery's manifest lists it: name, data rows (header excluded;
    JSON lines: lines; GeoJSON: features) and the SHA-256 of its bytes."""

    name: str
    rows: int
    sha256: str

    @classmethod
    def of(cls, path: Path, rows: int) -> ManifestFile:
        """The entry of a file already written (reads it to hash it)."""
        return cls(Path(path).name, rows, sha256_file(path))


def delivery_folder(inbox: Path, dataset: str, date: str | dt.date) -> Path:
    return Path(inbox) / dataset / dt.date.fromisoformat(str(date)).strftime("%Y%m%d")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, dataset: str, date: str | dt.date, kind: str, files: Iterable[ManifestFile],
                   hour: int | None = None) -> Path:
    """Write ``manifest.json`` into ``folder``, last, listing ``files`` in the order given
    (with ``hour``: ``manifest_HH.json``, the manifest of that hour's part, which says its hour).

    The bytes are a pure function of the arguments (UTF-8 JSON, two-space indent, final
    newline), so a generated province is byte-identical for a seed.
    """
    body = {
        "dataset": dataset,
        "date": dt.date.fromisoformat(str(date)).isoformat(),
        "kind": kind,
        **({} if hour is None else {"hour": hour}),
        "files": [{"name": f.name, "rows": f.rows, "sha256": f.sha256} for f in files],
    }
    path = Path(folder) / (MANIFEST if hour is None else hourly_manifest(hour))
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a manifest
    return path


def write_delivery(inbox: Path, dataset: str, date: str, kind: str, files: dict[str, tuple[bytes, int]]) -> Path:
    """Write data files (name → (bytes, data rows)) and then their manifest; return the folder."""
    folder = delivery_folder(inbox, dataset, date)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    write_manifest(folder, dataset, date, kind, [ManifestFile.of(folder / name, rows) for name, (_, rows) in sorted(files.items())])
    return folder

"""Write a delivery folder the way ``shared/extracts.md`` describes it: data files, then the manifest.

Used by the generator and by tests that hand-write input files, so both follow one contract.

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
from pathlib import Path


def delivery_folder(inbox: Path, dataset: str, date: str) -> Path:
    return Path(inbox) / dataset / dt.date.fromisoformat(date).strftime("%Y%m%d")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, dataset: str, date: str, kind: str, rows: dict[str, int]) -> Path:
    """Write ``manifest.json`` last, for files already in ``folder`` (name → data rows)."""
    files = [{"name": name, "rows": n, "sha256": sha256_file(folder / name)} for name, n in sorted(rows.items())]
    manifest = {"dataset": dataset, "date": date, "kind": kind, "files": files}
    path = folder / "manifest.json"
    tmp = folder / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a manifest
    return path


def write_delivery(inbox: Path, dataset: str, date: str, kind: str, files: dict[str, tuple[bytes, int]]) -> Path:
    """Write data files (name → (bytes, data rows)) and then their manifest; return the folder."""
    folder = delivery_folder(inbox, dataset, date)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    write_manifest(folder, dataset, date, kind, {name: rows for name, (_, rows) in files.items()})
    return folder

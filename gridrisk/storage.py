"""Files outside Delta (inbox deliveries, manifests, reports) on local disk or object storage.

``pyarrow.fs`` already speaks local paths, ``s3://``, ``gs://`` and ``hdfs://``; this thin
layer keeps the rest of the code free of URI handling.
"""

from __future__ import annotations

import json
from typing import Any

from pyarrow import fs as pafs


def _split(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri and not uri.startswith("file://"):
        filesystem, path = pafs.FileSystem.from_uri(uri)
        return filesystem, path
    return pafs.LocalFileSystem(), uri.removeprefix("file://")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def exists(uri: str) -> bool:
    filesystem, path = _split(uri)
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound


def is_file(uri: str) -> bool:
    filesystem, path = _split(uri)
    return filesystem.get_file_info(path).type == pafs.FileType.File


def size(uri: str) -> int:
    filesystem, path = _split(uri)
    return int(filesystem.get_file_info(path).size or 0)


def read_bytes(uri: str) -> bytes:
    """The file's bytes as stored (a ``.gz`` file stays compressed: its checksum is of these)."""
    filesystem, path = _split(uri)
    with filesystem.open_input_stream(path, compression=None) as fh:
        return bytes(fh.read())


def read_json(uri: str) -> Any:
    return json.loads(read_bytes(uri).decode("utf-8"))


def write_text(uri: str, text: str) -> None:
    filesystem, path = _split(uri)
    parent = path.rsplit("/", 1)[0]
    if parent:
        filesystem.create_dir(parent, recursive=True)
    with filesystem.open_output_stream(path) as fh:
        fh.write(text.encode("utf-8"))

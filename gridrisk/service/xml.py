"""Open311 GeoReport v2 XML: ``<service_requests><request>…`` and ``<errors><error>…``."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def _fill(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(parent, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(parent, "item"), item)
    elif value is None:
        return
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    else:
        parent.text = str(value)


def to_xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    """``<root><item>…</item>…</root>`` with one element per field (nested for dicts)."""
    top = ET.Element(root)
    for row in rows:
        _fill(ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")

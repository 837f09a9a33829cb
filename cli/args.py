"""Argument types and the parser of the ``gridrisk`` command: a bad argument is refused before
any work starts, in one line that says what is wrong, with exit status 2.

Each type is a plain function ``str -> value`` that raises :class:`argparse.ArgumentTypeError`
with a message for people; argparse prefixes it with the option's name.

Example:
    >>> iso_date("2026-11-01")
    '2026-11-01'
    >>> iso_date("yesterday")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'yesterday' is not a date: use YYYY-MM-DD, e.g. 2026-11-01
    >>> division_code("320100")  # a GB/T 2260 city code written with its trailing zeros
    '3201'
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterable
from typing import NoReturn

#: Lengths of a division or grid code: province 2, city 4, district 6, street 9, community 12, grid 15.
UNIT_LENGTHS = (2, 4, 6, 9, 12, 15)
UNIT_LEVELS = dict(zip(UNIT_LENGTHS, ("province", "city", "district", "street", "community", "grid"), strict=True))


class UsageError(Exception):
    """A bad argument found after parsing (e.g. it needs the lake's catalog to judge): exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line (what is wrong, and where to look), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def iso_date(text: str) -> str:
    """A logical date ``YYYY-MM-DD`` (nothing else: no ``yesterday``, no ``20261101``)."""
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-01") from None


def division_code(text: str) -> str:
    """A division or grid code as the prefix it stands for: ``32`` … 15-digit grid.

    A six-digit GB/T 2260 code with trailing zeros names its province or city: ``320000`` is
    ``32`` and ``320100`` is ``3201``, so the prefix matches every code below it.
    """
    code = text.strip()
    if not (code.isascii() and code.isdigit() and len(code) in UNIT_LENGTHS):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a division or grid code: digits only, "
            f"{', '.join(f'{n} ({UNIT_LEVELS[n]})' for n in UNIT_LENGTHS)} long, e.g. 320115")
    if len(code) == 6 and code.endswith("0000"):
        return code[:2]
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer within ``[low, high]`` (thousands separators allowed: ``10,000``)."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low:,}" if high is None else f"between {low:,} and {high:,}"
            raise argparse.ArgumentTypeError(f"{value:,} is out of range: must be {bounds}")
        return value

    parse.__name__ = "number"
    return parse


def one_of(kind: str, known: Callable[[], Iterable[str]]) -> Callable[[str], str]:
    """A name from a list read lazily from the configuration (datasets, rules …)."""

    def parse(text: str) -> str:
        names = sorted(known())
        if text not in names:
            raise argparse.ArgumentTypeError(f"unknown {kind} {text!r}; {kind}s are: {', '.join(names)}")
        return text

    parse.__name__ = kind
    return parse


def comma_list(item: Callable[[str], str]) -> Callable[[str], list[str]]:
    """``a,b,c`` with each item checked by ``item``."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        return [item(t) for t in items]

    parse.__name__ = "list"
    return parse


def key_value(text: str) -> tuple[str, float]:
    """``KEY=NUMBER`` (``--noise id_typo=0``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. id_typo=0")
    try:
        return key.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None


def record_ref(text: str) -> tuple[str, str]:
    """``DATASET:RECORD_KEY`` (``driving_licences:DL0001234``)."""
    dataset, sep, key = text.partition(":")
    if not sep or not dataset or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not DATASET:RECORD_KEY, e.g. driving_licences:DL0001234")
    return dataset, key


def command_name() -> str:
    """The ``gridrisk`` command as the user can type it here, for hints worth pasting.

    ``gridrisk`` when that is on PATH and is this installation; else the script as it was
    started (``.venv/bin/gridrisk``); else this environment's script; else ``python -m cli``.
    """
    import os
    import shutil
    from pathlib import Path

    on_path = shutil.which("gridrisk")
    started = sys.argv[0] if sys.argv else ""
    candidates = [Path(started)] if Path(started).name == "gridrisk" else []
    candidates.append(Path(sys.executable).with_name("gridrisk"))
    for script in candidates:
        if not script.exists():
            continue
        if on_path and Path(on_path).resolve() == script.resolve():
            return "gridrisk"
        if script == Path(started):
            return started
        rel = os.path.relpath(script)
        return rel if not rel.startswith("..") else str(script)
    return f"{sys.executable} -m cli"

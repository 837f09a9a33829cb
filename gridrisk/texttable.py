"""Tables for people: columns measured in display width (a Chinese character takes two cells,
which tabulate counts once ``wcwidth`` is installed), and long text wrapped, never cut.

Example:
    >>> print(table([["社区", "a"], ["x", "b"]], ["名称", "v"]))
    名称    v
    ------  ---
    社区    a
    x       b
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from typing import Any

#: The narrowest a wrapped column becomes, however narrow the terminal.
MIN_WRAP = 24


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes (its widest line)."""
    widths = [wcswidth(line) for line in str(text).splitlines() or [""]]
    return max(w if w >= 0 else len(line) for w, line in zip(widths, str(text).splitlines() or [""], strict=True))


#: Punctuation that must not start a line (it stays with the text before it) and after which a
#: line may end: the natural places to wrap Chinese, which has no spaces.
CLOSING = set("，。；：、！？）」』》〉】”’,.;:!?)]%")
#: Punctuation that must not end a line (it stays with the text after it).
OPENING = set("（「『《〈【“‘([")
_TOKEN = re.compile(r"[A-Za-z0-9_.\-+/:%@#×↑→=<>²³°]+\s*|\s+|.", re.S)


def wrap(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` cells, broken after punctuation where it can be,
    else between words or characters; never before a closing mark or after an opening one.

    Example:
        >>> print(wrap("出租屋面积 18 m²，住了 9 人（人均 2.0 m²），超过规定", 16))
        出租屋面积 18
        m²，住了 9 人
        （人均 2.0
        m²），超过规定
    """
    lines: list[str] = []
    for paragraph in str(text).splitlines() or [""]:
        tokens: list[str] = []
        opening = ""
        for tok in _TOKEN.findall(paragraph):
            if tok in OPENING:
                opening += tok
            elif tokens and tok[0] in CLOSING and not opening:
                tokens[-1] += tok
            else:
                tokens.append(opening + tok)
                opening = ""
        if opening:
            tokens.append(opening)
        line: list[str] = []
        for tok in tokens:
            if line and display_width("".join(line) + tok.rstrip()) > width:
                cut = _best_break(line, width)
                lines.append("".join(line[:cut]).rstrip())
                line = line[cut:]
                while line and line[0].isspace():
                    line.pop(0)
            line.append(tok)
        lines.append("".join(line).rstrip())
    return "\n".join(lines)


def _best_break(line: list[str], width: int) -> int:
    """Where to end the line: after the last punctuation in its second half, else at its end."""
    used = 0
    best = len(line)
    for i, tok in enumerate(line, start=1):
        used += display_width(tok)
        if tok.rstrip() and tok.rstrip()[-1] in CLOSING and used >= width // 2 and i < len(line):
            best = i
    return best


def wcswidth(line: str) -> int:
    """Cells of one line (-1 when it holds a control character), by ``wcwidth`` — which tabulate
    uses too — or, without the cli extra, by the East Asian width property."""
    try:
        from wcwidth import wcswidth as measure
    except ImportError:
        import unicodedata

        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
    return int(measure(line))


def terminal_width(default: int = 120) -> int:
    return shutil.get_terminal_size((default, 24)).columns


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], wrap_column: int | None = None,
          width: int | None = None) -> str:
    """A plain table; numbers right-aligned with thousands separators, codes left as written;
    column ``wrap_column`` (an index) is wrapped to fit ``width`` (default: the terminal), at least
    :data:`MIN_WRAP` cells wide."""
    from tabulate import tabulate

    numeric = [bool(rows) and all(isinstance(r[i], int | float) and not isinstance(r[i], bool) or r[i] is None
                                  for r in rows) for i in range(len(headers))]
    cells = [[_cell(v) for v in r] for r in rows]
    if wrap_column is not None and cells:
        # tabulate's plain format: a column is as wide as its widest cell or its header + 2, and
        # columns are 2 apart.
        others = sum(max(display_width(str(h)) + 2, *(display_width(r[i]) for r in cells)) + 2
                     for i, h in enumerate(headers) if i != wrap_column)
        room = max(MIN_WRAP, (width or terminal_width()) - others)
        for r in cells:
            r[wrap_column] = wrap(r[wrap_column], room)
    return tabulate(cells, headers=list(headers), disable_numparse=True,
                    colalign=["right" if n else "left" for n in numeric])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value if isinstance(value, str) else str(value)

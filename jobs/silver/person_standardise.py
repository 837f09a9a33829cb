"""Standardisation of the person attributes entity resolution compares: names, pinyin, phones.

IDs are read by :mod:`gridrisk.ids` (natively in Spark by :mod:`gridrisk.columns`), keyed
hashes come from :mod:`gridrisk.privacy`. Here: plain Python rules for names and phones (tests,
the benchmark and Spark share them) and their Spark renderings. A phone is normalised natively;
a name needs OpenCC and pypinyin, so :func:`name_keys` runs them in one Arrow UDF over the
*distinct* names only and joins the result back.

Example:
    >>> normalise_name(" 張 三·丰 ")
    '张三丰'
    >>> name_pinyin("曾国藩"), name_pinyin("单田芳"), name_pinyin("欧阳修")
    ('zeng guofan', 'shan tianfang', 'ouyang xiu')
    >>> normalise_phone("+86 138-1234 5678")
    '13812345678'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd  # at module level: pandas_udf resolves the UDF's type hints in these globals

from gridrisk import ids

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# pypinyin 0.55 has no surname mode: ``lazy_pinyin("曾国藩")`` gives "ceng". A surname's reading
# differs from the character's common one for these; the table is the fix (and is tested).
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng", "单": "shan", "仇": "qiu", "朴": "piao", "解": "xie", "区": "ou", "查": "zha",
    "盖": "ge", "覃": "qin", "乐": "yue", "缪": "miao", "翟": "zhai", "召": "shao", "繁": "po",
    "种": "chong", "员": "yun", "宿": "su", "隗": "wei", "黑": "he", "秘": "bi", "句": "gou",
    "折": "she", "尉": "yu", "长": "chang", "重": "chong", "沈": "shen", "柏": "bai",
    "葛": "ge", "藏": "zang", "薄": "bo", "褚": "chu", "能": "nai", "华": "hua", "任": "ren",
    "纪": "ji", "燕": "yan", "万": "wan", "阚": "kan", "石": "shi", "冼": "xian", "过": "guo",
}
COMPOUND_SURNAMES: dict[str, str] = {
    "欧阳": "ouyang", "司马": "sima", "诸葛": "zhuge", "上官": "shangguan", "东方": "dongfang",
    "皇甫": "huangfu", "尉迟": "yuchi", "公孙": "gongsun", "慕容": "murong", "长孙": "zhangsun",
    "宇文": "yuwen", "司徒": "situ", "夏侯": "xiahou", "轩辕": "xuanyuan", "令狐": "linghu",
    "钟离": "zhongli", "澹台": "tantai", "万俟": "moqi", "单于": "chanyu", "端木": "duanmu",
    "南宫": "nangong", "西门": "ximen", "独孤": "dugu", "呼延": "huyan", "闻人": "wenren",
}
# Separators in transliterated or minority names (阿卜杜·热合曼) and stray spaces.
_NAME_NOISE = re.compile(r"[\s·•・.\u00b7\u2022\u30fb\u2027]+")
MOBILE_PATTERN = "^1[3-9][0-9]{9}$"
PHONE_PREFIXES = ("0086", "86")
_MOBILE = re.compile(MOBILE_PATTERN)
_NOT_DIGIT = re.compile("[^0-9]")
_TO_HALF = str.maketrans(ids.FULLWIDTH, ids.HALFWIDTH)


@functools.lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def normalise_name(raw: str | None) -> str | None:
    """NFKC, traditional → simplified (OpenCC t2s), without spaces or middle dots; None if empty."""
    if raw is None:
        return None
    text = _NAME_NOISE.sub("", unicodedata.normalize("NFKC", str(raw)))
    if not text:
        return None
    return str(_t2s().convert(text))


def split_surname(name: str) -> tuple[str, str]:
    """``(surname, given name)``: a listed compound surname takes two characters, else one."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


@functools.lru_cache(maxsize=200_000)
def _pinyin(text: str) -> str:
    """Tone-less pinyin of a surname or a given name. Cached: a province has far fewer distinct
    given names than names (伟, 秀英, 娜 …), and pypinyin's phrase matching is the dearest step."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default"))


def surname_pinyin(surname: str) -> str:
    """A surname's reading, from the table when the common reading is wrong."""
    if surname in COMPOUND_SURNAMES:
        return COMPOUND_SURNAMES[surname]
    return SURNAME_READINGS.get(surname) or _pinyin(surname)


def name_pinyin(name: str | None) -> str | None:
    """Tone-less pinyin key ``"surname given"`` of a name (same-sound typos agree)."""
    return pinyin_of_normalised(normalise_name(name))


def pinyin_of_normalised(norm: str | None) -> str | None:
    """:func:`name_pinyin` of a name :func:`normalise_name` has already normalised."""
    if not norm:
        return None
    surname, given = split_surname(norm)
    return f"{surname_pinyin(surname)} {_pinyin(given)}".strip()


def normalise_names(raw: "list[str | None]") -> "list[str | None]":
    """:func:`normalise_name` of many names, with one OpenCC call for all of them.

    OpenCC converts by longest dictionary match, and no dictionary entry holds a line break, so
    converting the names joined by ``\\n`` gives each name exactly what converting it alone
    does; only the per-call overhead is saved. (A name with a line break in it has lost it to
    the noise pattern before.)
    """
    pre = [None if v is None else _NAME_NOISE.sub("", unicodedata.normalize("NFKC", str(v))) or None for v in raw]
    present = [v for v in pre if v]
    if not present:
        return [None] * len(pre)
    converted = str(_t2s().convert("\n".join(present))).split("\n")
    if len(converted) != len(present):  # cannot happen (see above); never risk misaligned names
        converted = [str(_t2s().convert(v)) for v in present]
    it = iter(converted)
    return [next(it) if v else None for v in pre]


def normalise_phone(raw: str | None) -> str | None:
    """An 11-digit mainland mobile without ``+86``/``0086``, spaces or dashes; None otherwise."""
    if raw is None:
        return None
    digits = _NOT_DIGIT.sub("", str(raw).translate(_TO_HALF))
    for prefix in PHONE_PREFIXES:
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits if _MOBILE.match(digits) else None


# --- Spark renderings -----------------------------------------------------------------------

def with_phone(df: "DataFrame", col: "str | Column", out: str) -> "DataFrame":
    """``df`` + ``out``: :func:`normalise_phone` of ``col`` natively (:func:`gridrisk.columns.staged`)."""
    from pyspark.sql import functions as F

    from gridrisk.columns import staged

    raw = F.col(col) if isinstance(col, str) else col

    def stripped(v: "Callable[[str], Column]") -> "Column":
        digits = v("digits")
        out = digits
        for prefix in PHONE_PREFIXES:  # lengths differ, so at most one applies
            out = F.when((F.length(digits) == 11 + len(prefix)) & digits.startswith(prefix),
                         F.substring(digits, len(prefix) + 1, 11)).otherwise(out)
        return out

    return staged(df, out, [
        ("digits", lambda v: F.regexp_replace(F.translate(raw, ids.FULLWIDTH, ids.HALFWIDTH), "[^0-9]", "")),
        ("stripped", stripped),
        (out, lambda v: F.when(v("stripped").rlike(MOBILE_PATTERN), v("stripped"))),
    ])


def _name_keys_udf() -> Any:
    from pyspark.sql import types as T
    from pyspark.sql.functions import pandas_udf

    schema = T.StructType([T.StructField("name_norm", T.StringType()), T.StructField("name_pinyin", T.StringType())])

    @pandas_udf(schema)  # type: ignore[call-overload]
    def _keys(raw: pd.Series) -> pd.DataFrame:
        norms = normalise_names([v if isinstance(v, str) else None for v in raw])
        return pd.DataFrame({"name_norm": norms, "name_pinyin": [pinyin_of_normalised(n) for n in norms]})

    return _keys


def name_keys(names: "DataFrame", col: str = "name_raw") -> "DataFrame":
    """``(col, name_norm, name_pinyin)`` for each distinct non-null name of ``names``.

    OpenCC and pypinyin are Python: running them once per distinct name rather than once per
    record is what keeps their cost down (a name recurs across departments and days).
    """
    from pyspark.sql import functions as F

    keys = _name_keys_udf()(F.col(col))
    return (names.select(col).where(F.col(col).isNotNull()).distinct()
            .select(col, keys["name_norm"].alias("name_norm"), keys["name_pinyin"].alias("name_pinyin")))

"""Standardisation of the person attributes entity resolution compares: names, pinyin, phones, IDs.

Plain Python functions hold the rules (so tests, the benchmark and Spark share one definition);
the ``*_col`` functions are vectorised (Arrow) wrappers that apply them to Spark columns.

Example:
    >>> normalise_name(" 張 三·丰 ")
    '张三丰'
    >>> name_pinyin("曾国藩"), name_pinyin("单田芳"), name_pinyin("欧阳修")
    ('zeng guofan', 'shan tianfang', 'ouyang xiu')
    >>> normalise_phone("+86 138-1234 5678")
    '13812345678'
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import unicodedata
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from gridrisk import ids

if TYPE_CHECKING:
    from pyspark.sql import Column

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
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


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


def _pinyin(text: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default"))


def surname_pinyin(surname: str) -> str:
    """A surname's reading, from the table when the common reading is wrong."""
    if surname in COMPOUND_SURNAMES:
        return COMPOUND_SURNAMES[surname]
    return SURNAME_READINGS.get(surname) or _pinyin(surname)


def name_pinyin(name: str | None) -> str | None:
    """Tone-less pinyin key ``"surname given"`` of a normalised name (same-sound typos agree)."""
    norm = normalise_name(name)
    if not norm:
        return None
    surname, given = split_surname(norm)
    return f"{surname_pinyin(surname)} {_pinyin(given)}".strip()


def normalise_phone(raw: str | None) -> str | None:
    """An 11-digit mainland mobile without ``+86``/``0086``, spaces or dashes; None otherwise."""
    if raw is None:
        return None
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", str(raw)))
    for prefix in ("0086", "86"):
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits if _MOBILE.match(digits) else None


def keyed_hash(value: str | None, key: bytes, domain: str) -> str | None:
    """HMAC-SHA256 of ``domain:value`` (hex, 24 characters); the domain keeps hashes of phones,
    record keys and IDs apart even when the strings coincide."""
    if value is None:
        return None
    return hmac.new(key, f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()[:24]


class IdFeatures(NamedTuple):
    """What an ID as written tells the linkage, even when it is damaged."""

    id_norm: str | None  # usable 18-digit ID (valid or repaired), else None
    id_status: str  # gridrisk.ids.STATUSES
    id_digits: str | None  # the cleaned 18 characters when there are 18 (typos, truncations)
    id_area: str | None  # 6-digit area code when the first six digits survived
    birth_date: dt.date | None  # from a usable ID or a surviving date segment
    sex: str | None  # M/F from the sequence digit when it survived


def id_features(raw: str | None) -> IdFeatures:
    """Repair an ID with :func:`gridrisk.ids.normalise_id` and keep what survives of a damaged one.

    Example:
        >>> id_features("320115199001011234").id_status
        'valid'
        >>> f = id_features("320115199001011000")  # Excel zeroed the last three digits
        >>> f.id_status, f.id_area, f.birth_date, f.sex
        ('truncated', '320115', datetime.date(1990, 1, 1), None)
    """
    norm = ids.normalise_id(raw)
    text = ids.clean(raw)
    if norm.value:
        value = norm.value
        return IdFeatures(value, norm.status, value, value[:6], ids.birth_date(value), ids.sex(value))
    digits = text if len(text) == 18 and text[:17].isdigit() else None
    lead = re.match(r"^(\d+)(?:\.(\d+))?", text)
    lead_digits = (lead.group(1) + (lead.group(2) or "")) if lead else ""
    area = lead_digits[:6] if len(lead_digits) >= 6 else None
    born = None
    if len(lead_digits) >= 14 and "E" not in text:
        try:
            born = ids.birth_date(lead_digits[:14] + "0000")
        except ValueError:
            born = None
    sex = None
    if digits and norm.status != "truncated":
        sex = "M" if int(digits[16]) % 2 == 1 else "F"
    return IdFeatures(None, norm.status, digits, area, born, sex)


# --- Spark wrappers -------------------------------------------------------------------------

def _id_struct() -> Any:
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("id_norm", T.StringType()),
        T.StructField("id_status", T.StringType()),
        T.StructField("id_digits", T.StringType()),
        T.StructField("id_area", T.StringType()),
        T.StructField("id_birth_date", T.DateType()),
        T.StructField("id_sex", T.StringType()),
    ])


def _text(item: object) -> str | None:
    return item if isinstance(item, str) else None


def id_features_col(col: "str | Column") -> "Column":
    """``struct(id_norm, id_status, id_digits, id_area, id_birth_date, id_sex)`` of an ID column."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(_id_struct())  # type: ignore[call-overload]
    def _features(raw: pd.Series) -> pd.DataFrame:
        rows = [id_features(_text(v)) for v in raw]
        return pd.DataFrame(rows, columns=["id_norm", "id_status", "id_digits", "id_area", "id_birth_date", "id_sex"])

    return _features(F.col(col) if isinstance(col, str) else col)


def _map_col(col: "str | Column", fn: Any) -> "Column":
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(T.StringType())  # type: ignore[call-overload]
    def _apply(values: pd.Series) -> pd.Series:
        return values.map(lambda v: fn(v) if isinstance(v, str) else None)

    return _apply(F.col(col) if isinstance(col, str) else col)


def normalise_name_col(col: "str | Column") -> "Column":
    return _map_col(col, normalise_name)


def name_pinyin_col(col: "str | Column") -> "Column":
    return _map_col(col, name_pinyin)


def normalise_phone_col(col: "str | Column") -> "Column":
    return _map_col(col, normalise_phone)


def keyed_hash_col(col: "str | Column", key: bytes, domain: str) -> "Column":
    return _map_col(col, lambda v: keyed_hash(v, key, domain))

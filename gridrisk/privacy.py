"""Pseudonymisation and masking (domain.md §6).

- One keyed hash, HMAC-SHA256 under the pseudonymisation secret (:func:`hmac_sha256`), in two
  renderings: a **person key** (:func:`person_key`) is ``p`` + base32 of the HMAC of the
  normalised ID number; every other token (:func:`keyed_hash`: a record key that is an ID, a
  phone, an unlinked record) is hex of the HMAC of ``domain:value``, the domain keeping tokens
  of equal strings apart. :mod:`gridrisk.columns` computes both natively in Spark from the same
  definition. The person key's bare message is kept for stability: changing it would re-key
  every lake table and every filed task.
- The secret comes
  from ``GRIDRISK_PSEUDONYM_KEY``. On the ``local`` profile, when it is unset, a random key is
  generated once into ``<workdir>/.gridrisk-key`` (git-ignored) and the user is told so; any
  other profile refuses to run without it.
- Names are shown masked (张*三), ID numbers masked (3201**********123X).

Example:
    >>> mask_name("张三丰"), mask_name("李四"), mask_id("32011519900101123X")
    ('张*丰', '李*', '320115********123X')
    >>> person_key("32011519900101123X", b"k") == person_key("32011519900101123X", b"k")
    True
    >>> keyed_hash("13812345678", b"k", "phone") != keyed_hash("13812345678", b"k", "record")
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

KEY_ENV = "GRIDRISK_PSEUDONYM_KEY"
KEY_FILE = ".gridrisk-key"
# base32, 20 characters = 100 bits: no collisions at 10^8 persons, and (unlike hex) never a
# run of 18 digits that a downstream ID-number filter would take for a raw ID.
PERSON_KEY_LENGTH = 20


class MissingKey(RuntimeError):
    pass


def pseudonym_key(profile_name: str = "local", workdir: str | os.PathLike[str] | None = None) -> bytes:
    """The secret for person keys: from the environment, or a generated local one for demos."""
    value = os.environ.get(KEY_ENV)
    if value:
        return value.encode("utf-8")
    if profile_name != "local":
        raise MissingKey(f"{KEY_ENV} is not set: the {profile_name} profile needs the pseudonymisation key "
                         "from the environment (never from the repository)")
    path = Path(workdir or os.environ.get("GRIDRISK_WORKDIR") or Path.cwd()) / KEY_FILE
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
        print(f"gridrisk: generated a local pseudonymisation key in {path} (demo only; set {KEY_ENV} in production)",
              file=sys.stderr)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


#: Length of a :func:`keyed_hash` token (hex characters, 96 bits).
TOKEN_LENGTH = 24


def hmac_sha256(key: bytes, message: str) -> bytes:
    """The one keyed hash: HMAC-SHA256 of the UTF-8 message under the secret."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def person_key(id18: str, key: bytes) -> str:
    """``p`` + 19 base32 characters of the keyed hash of the normalised ID."""
    digest = hmac_sha256(key, id18)
    return "p" + base64.b32encode(digest).decode("ascii").lower()[: PERSON_KEY_LENGTH - 1]


def keyed_hash(value: str | None, key: bytes, domain: str) -> str | None:
    """Hex token of the keyed hash of ``domain:value`` (None for None): record keys that are
    IDs, phones, unlinked records. The domain keeps a phone's token apart from a record's."""
    if value is None:
        return None
    return hmac_sha256(key, f"{domain}:{value}").hex()[:TOKEN_LENGTH]


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id(id_no: str | None) -> str | None:
    if not id_no:
        return id_no
    if len(id_no) < 10:
        return "*" * len(id_no)
    return id_no[:6] + "*" * (len(id_no) - 10) + id_no[-4:]

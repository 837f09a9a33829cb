"""Column tables of the generator's clean internal state, and the code lists they use.

A :class:`Table` is a dict of equally long numpy columns; categorical columns hold small
integer codes into the tuples below (the strings the departments write).
"""

from __future__ import annotations

import numpy as np

RELATIONS = ("本人", "配偶", "子女", "父母", "其他亲属", "合租", "无")
R_SELF, R_SPOUSE, R_CHILD, R_PARENT, R_OTHER, R_SHARE, R_NONE = range(7)
#: Relations that are not family of the tenant: the tenant (本人) and co-tenants (合租/无) are
#: "unrelated adults" to each other (domain.md §4, rental rules). The generated data never
#: puts a tenant together with three or more co-tenants, so counting 本人 or not gives the same
#: answer.
UNRELATED = (R_SELF, R_SHARE, R_NONE)

ROOM_TYPES = ("卧室", "客厅", "厨房", "卫生间", "阳台", "地下室", "车库")
RT_BEDROOM = 0
#: Rooms that must not be let for living (overcrowded-rental rule).
NOT_FOR_LIVING = (2, 3, 4, 5)

USES = ("自住", "出租", "空置", "商用")
U_OWN, U_RENT, U_VACANT, U_COMMERCIAL = range(4)
LETTINGS = ("整租", "分租", "按床位", "空")
L_WHOLE, L_SHARED, L_BED, L_NONE = range(4)

LICENCE_STATUS = ("正常", "暂扣", "吊销", "注销", "超分", "逾期未审验", "逾期未换证")
LS_VALID, LS_SUSPENDED, LS_REVOKED, LS_CANCELLED, LS_POINTS, LS_NO_REVIEW, LS_EXPIRED = range(7)

CERT_TYPES = ("道路旅客运输驾驶员", "道路货物运输驾驶员", "危险货物运输驾驶员", "危险货物运输押运人员",
              "网络预约出租汽车驾驶员", "巡游出租汽车驾驶员")
CT_PASSENGER, CT_FREIGHT, CT_HAZMAT_DRIVER, CT_HAZMAT_ESCORT, CT_RIDE_HAILING, CT_TAXI = range(6)
CERT_STATUS = ("有效", "注销", "过期", "吊销")
CS_ACTIVE, CS_CANCELLED, CS_EXPIRED, CS_REVOKED = range(4)

MANAGEMENT = ("在册", "失访", "死亡", "迁出")
DRUG_STATUS = ("社区戒毒", "强制隔离戒毒", "社区康复", "戒断三年未复吸", "查获吸毒")
DS_COMMUNITY, DS_ISOLATION, DS_RECOVERY, DS_CLEAN3Y, DS_CAUGHT = range(5)
#: Control statuses that are a licence-cancellation condition by themselves.
DRUG_CONTROL = (DS_COMMUNITY, DS_ISOLATION, DS_RECOVERY)


class Table:
    """Equally long numpy columns addressed as attributes; grows by :meth:`extend`."""

    def __init__(self, **columns) -> None:
        object.__setattr__(self, "cols", {})
        for k, v in columns.items():
            self.cols[k] = _arr(v)
        self._check()

    def _check(self) -> None:
        lengths = {len(v) for v in self.cols.values()}
        assert len(lengths) <= 1, {k: len(v) for k, v in self.cols.items()}

    def __len__(self) -> int:
        return len(next(iter(self.cols.values()))) if self.cols else 0

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.cols[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value) -> None:
        self.cols[name] = _arr(value)

    def extend(self, **columns) -> None:
        assert set(columns) == set(self.cols), set(columns) ^ set(self.cols)
        for k, v in columns.items():
            self.cols[k] = np.concatenate([self.cols[k], _arr(v).astype(self.cols[k].dtype, copy=False)])
        self._check()

    def take(self, idx) -> dict:
        return {k: v[idx] for k, v in self.cols.items()}


def _arr(v) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    v = list(v)
    if v and isinstance(v[0], str):
        return np.array(v, dtype=object)
    return np.array(v)


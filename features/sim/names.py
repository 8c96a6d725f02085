"""Synthetic names of the simulated county's schools, classes and staff (the contract's optional
``schools.name``, ``classes.name`` and ``staff.name``).

Every name is made up from fixed lists: place syllables that name no real township, and common
surnames with common given names that, put together by a hash of the id, name no real person.
No random draws: the names follow from the ids and the layout, so adding them changes nothing
else the simulator writes.

>>> staff_name("SCH00007-HT61") == staff_name("SCH00007-HT61"), len(staff_name("SCH00007-CO3")) in (2, 3)
(True, True)
>>> class_name(6, 1), class_name(9, 12)
('六年级(1)班', '九年级(12)班')
>>> school_name(0, 0, "primary"), school_name(0, 1, "teaching_point"), school_name(2, 0, "nine_year")
('青石镇中心小学', '青石镇杨柳村教学点', '石门镇九年一贯制学校')
"""

from __future__ import annotations

import zlib

__all__ = ["staff_name", "class_name", "school_name", "township_name"]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶"
_GIVEN = ("丽", "芳", "敏", "静", "伟", "军", "勇", "杰", "娟", "霞", "平", "刚", "建国", "红梅",
          "海燕", "志刚", "小兵", "春花", "立新", "晓东", "文华", "玉兰", "国强", "秀珍")  # fmt: skip
_TOWNS = ("青石", "河口", "石门", "白沙", "龙泉", "松岭", "桃源", "清溪", "金坪", "云台", "柳塘", "平川")
_VILLAGES = ("东坪", "杨柳", "南岗", "新田", "马鞍", "竹林", "大湾", "上寨", "石桥", "花园", "下坝", "团结")
_GRADES = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九")


def staff_name(staff_id: str) -> str:
    """A made-up staff name (surname + given name) drawn by a hash of the staff id."""
    h = zlib.crc32(str(staff_id).encode("utf-8"))
    return _SURNAMES[h % len(_SURNAMES)] + _GIVEN[(h // len(_SURNAMES)) % len(_GIVEN)]


def class_name(grade: int, number: int) -> str:
    """A class as the school names it: "六年级(1)班"."""
    return f"{_GRADES[int(grade)]}年级({int(number)})班"


def township_name(town: int) -> str:
    """A made-up township: 青石镇 for the first (the county town), 河口乡, ... after it."""
    base = _TOWNS[town % len(_TOWNS)] + (str(town // len(_TOWNS) + 1) if town >= len(_TOWNS) else "")
    return base + ("镇" if town % 2 == 0 else "乡")


def school_name(town: int, village: int, kind: str) -> str:
    """A made-up school name from its township, village and type."""
    t = township_name(town)
    v = _VILLAGES[village % len(_VILLAGES)] + (
        str(village // len(_VILLAGES) + 1) if village >= len(_VILLAGES) else ""
    )
    if kind == "junior":
        return f"{t}中学"
    if kind == "nine_year":
        return f"{t}九年一贯制学校"
    if kind == "teaching_point":
        return f"{t}{v}村教学点"
    return f"{t}中心小学" if village == 0 else f"{t}{v}村小学"

"""The `msg` of each field error in a 422 `validation_error`, in the problem's language.

English keeps pydantic's own message, except where that message would name an
internal class or echo part of the input; zh-CN says the same per pydantic error
`type`, with its limits (lengths, bounds, patterns, allowed values) from `ctx`.
Neither ever repeats the value that was sent: it may be an identity number.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

# pydantic's English messages that would name an internal class or echo the input.
_EN_OVERRIDES = {
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dataclass_type": "Input should be an object",
    "dataclass_exact_type": "Input should be an object",
    "named_tuple_type": "Input should be a list",
    "is_instance_of": "Input is of the wrong type",
    "is_subclass_of": "Input is of the wrong type",
    "union_tag_invalid": "The tag does not match any of the expected tags: {expected_tags}",
    "timezone_offset": "Timezone offset of {tz_expected} required",
}

_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "body_not_allowed": "此操作不接受请求体",
    "json_invalid": "不是有效的 JSON",
    "json_type": "应为 JSON 文本",
    "none_required": "应为空值",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "dataclass_type": "应为对象",
    "dataclass_exact_type": "应为对象",
    "dict_type": "应为对象",
    "mapping_type": "应为对象",
    "named_tuple_type": "应为数组",
    "list_type": "应为数组",
    "tuple_type": "应为数组",
    "set_type": "应为数组",
    "frozen_set_type": "应为数组",
    "iterable_type": "应为数组",
    "set_item_not_hashable": "数组元素类型不正确",
    "too_short": "至少应有 {min_length} 项",
    "too_long": "最多只能有 {max_length} 项",
    "string_type": "应为字符串",
    "string_unicode": "应为有效的 Unicode 字符串",
    "string_too_short": "长度至少为 {min_length} 个字符",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确，应符合模式 {pattern}",
    "string_not_ascii": "只能包含 ASCII 字符",
    "enum": "应为以下取值之一：{expected}",
    "literal_error": "应为以下取值之一：{expected}",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_parsing_size": "整数超出范围",
    "int_from_float": "应为整数，不能有小数部分",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "decimal_type": "应为数字",
    "decimal_parsing": "应为数字",
    "decimal_max_digits": "数字的位数不能超过 {max_digits} 位",
    "decimal_max_places": "小数位数不能超过 {decimal_places} 位",
    "decimal_whole_digits": "整数部分不能超过 {whole_digits} 位",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "bytes_type": "应为字节串",
    "bytes_too_short": "至少应有 {min_length} 个字节",
    "bytes_too_long": "不能超过 {max_length} 个字节",
    "bytes_invalid_encoding": "编码不正确",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不能带时刻",
    "date_past": "应为过去的日期",
    "date_future": "应为将来的日期",
    "time_type": "应为时刻（HH:MM）",
    "time_parsing": "应为时刻（HH:MM）",
    "datetime_type": "应为带时区偏移的日期时间（RFC 3339）",
    "datetime_parsing": "应为带时区偏移的日期时间（RFC 3339）",
    "datetime_object_invalid": "日期时间无效",
    "datetime_from_date_parsing": "应为带时区偏移的日期时间（RFC 3339）",
    "datetime_past": "应为过去的时间",
    "datetime_future": "应为将来的时间",
    "timezone_naive": "不能带时区偏移",
    "timezone_aware": "须带时区偏移",
    "timezone_offset": "时区偏移应为 {tz_expected}",
    "time_delta_type": "应为时长",
    "time_delta_parsing": "应为时长",
    "url_type": "应为网址",
    "url_parsing": "应为有效的网址",
    "url_syntax_violation": "应为有效的网址",
    "url_too_long": "网址长度不能超过 {max_length} 个字符",
    "url_scheme": "网址协议应为 {expected_schemes}",
    "uuid_type": "应为 UUID",
    "uuid_parsing": "应为 UUID",
    "uuid_version": "UUID 版本应为 {expected_version}",
    "union_tag_invalid": "类型标记不正确，应为以下之一：{expected_tags}",
    "union_tag_not_found": "缺少类型标记",
    "bed_or_category": "bed_id 与 category 须且只须给出其一",
    "frozen_field": "该字段不可修改",
    "frozen_instance": "不可修改",
    "invalid_key": "键无效",
    "no_such_attribute": "不允许的字段",
    "missing_argument": "缺少必填字段",
    "unexpected_keyword_argument": "不允许的字段",
}

# Bounds on dates and datetimes read as earlier / later, not smaller / greater.
_ZH_WHEN = {
    "greater_than": "应晚于 {gt}",
    "greater_than_equal": "应不早于 {ge}",
    "less_than": "应早于 {lt}",
    "less_than_equal": "应不晚于 {le}",
}

# The request models' own refusals (ValueError in a validator), by their message.
_ZH_VALUE_ERRORS = {
    "end must be after start": "结束时刻须晚于开始时刻",
    "divorce_case_id is required for divorce_confirmation":
        "离婚登记确认（divorce_confirmation）须填写 divorce_case_id",
    "divorce_case_id is only for divorce_confirmation":
        "只有离婚登记确认（divorce_confirmation）才能填写 divorce_case_id",
    "give exactly one of bed_id and category": "bed_id 与 category 须填写且只能填写其中一项",
    "control characters are not allowed": "不能包含控制字符",
}
_ZH_FALLBACK = "取值无效"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_when(value: Any) -> bool:
    """A date or datetime bound (FastAPI may hand it over as its ISO text)."""
    return isinstance(value, dt.date) or (isinstance(value, str)
                                          and _ISO_DATE.match(value) is not None)


def _zh_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _zh_choices(expected: Any) -> str:
    # pydantic writes the choices as "'a', 'b' or 'c'".
    return str(expected).replace(" or ", "、").replace(", ", "、")


def field_message(error: dict[str, Any], lang: str) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if lang == "en":
        template = _EN_OVERRIDES.get(kind)
        if template is None:
            return str(error.get("msg", ""))
        try:
            return template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            return "Invalid value"
    if kind in ("value_error", "assertion_error"):
        return _ZH_VALUE_ERRORS.get(str(ctx.get("error", "")), _ZH_FALLBACK)
    template = _ZH.get(kind)
    if template is None:
        return _ZH_FALLBACK
    if kind in _ZH_WHEN and any(_is_when(v) for v in ctx.values()):
        template = _ZH_WHEN[kind]
    params = {k: _zh_value(v) for k, v in ctx.items()}
    for key in ("expected", "expected_tags", "expected_schemes"):
        if key in params:
            params[key] = _zh_choices(params[key])
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return _ZH_FALLBACK

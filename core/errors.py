"""Domain errors: each carries its stable problem `code`, its HTTP status and
its title in zh-CN and en. Services raise these; never HTTPException.

`detail` texts are formatted from the error's `params`, so the same error reads
well in both languages. Params that are codes (statuses, actions, roles, kinds,
categories, nouns) are named through the tables below: zh-CN text carries no English
words, and a code the tables do not know makes the zh-CN detail say less, never
the code.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

from core.clock import CHINA_TZ

# --- the words a detail may name, in zh-CN and en ------------------------------------
# A detail's parameters are codes (a status, an action, a role); the templates name
# them through these tables, so zh-CN text carries no English words. A code a table
# does not know makes the zh-CN detail fall back to the title (never to the code).

Names = dict[str, tuple[str, str]]

STATUS_NAMES: Names = {
    # marriage appointment
    "booked": ("已预约", "booked"),
    "checked_in": ("已签到", "checked in"),
    "completed": ("已办结", "completed"),
    "cancelled": ("已取消", "cancelled"),
    "no_show": ("未到", "no-show"),
    # divorce case
    "cooling_off": ("离婚冷静期中", "cooling-off"),
    "awaiting_confirmation": ("待确认登记", "awaiting confirmation"),
    "registered": ("已登记", "registered"),
    "withdrawn": ("已撤回", "withdrawn"),
    "lapsed": ("已失效", "lapsed"),
    # bed application
    "submitted": ("已提交", "submitted"),
    "waitlisted": ("轮候中", "waitlisted"),
    "offered": ("已分配床位待确认", "offered"),
    "accepted": ("已接受", "accepted"),
    "admitted": ("已入住", "admitted"),
    "declined": ("已谢绝", "declined"),
    "expired": ("已过期", "expired"),
    "rejected": ("已驳回", "rejected"),
    # bed
    "available": ("空闲", "available"),
    "held": ("已为申请保留", "held"),
    "occupied": ("已占用", "occupied"),
    "maintenance": ("维修中", "under maintenance"),
    # home-care booking (booked, completed, cancelled, no_show as above)
    "in_service": ("服务中", "in service"),
    # home-care caregiver
    "inactive": ("已停用", "inactive"),
    # a completed visit's verification (rejected as below)
    "verified": ("已核验", "verified"),
    "exception": ("服务记录异常", "exception"),
    "correction_submitted": ("更正待审核", "correction submitted"),
    "corrected": ("已更正", "corrected"),
    # burial claim (submitted, rejected, withdrawn as above)
    "returned": ("已退回补正", "returned"),
    "reviewed": ("已初审", "reviewed"),
    "approved": ("已批准", "approved"),
    "paid": ("已发放", "paid"),
    # lottery and lottery entry
    "scheduled": ("未开始报名", "scheduled"),
    "open": ("报名中", "open"),
    "drawn": ("已开奖", "drawn"),
    "entered": ("已报名", "entered"),
    "won": ("已中签", "won"),
    "not_drawn": ("未中签", "not drawn"),
    "closed": ("报名已截止待开奖", "closed, awaiting the draw"),
    # webhook delivery
    "pending": ("待投递", "pending"),
    "delivered": ("已送达", "delivered"),
    "failed": ("投递失败", "failed"),
}

# Action codes: what `InvalidState(status=..., action=<code>)` refused. The en name
# completes "Cannot ... while the status is ...".
ACTION_NAMES: Names = {
    # marriage appointment
    "book": ("预约", "book"),
    "cancel": ("取消", "cancel"),
    "office_cancel": ("由登记机关取消", "cancel as the office"),
    "check_in": ("签到", "check in"),
    "complete": ("办结", "complete"),
    "no_show": ("标记为未到", "mark as a no-show"),
    # divorce case
    "withdraw": ("撤回", "withdraw"),
    "confirm": ("预约确认登记", "book the confirmation"),
    "register": ("登记", "register"),
    # bed application and bed
    "assess": ("评估", "assess"),
    "offer": ("分配床位", "offer a bed"),
    "accept": ("接受", "accept"),
    "decline": ("谢绝", "decline"),
    "admit": ("办理入住", "admit"),
    "reject": ("驳回", "reject"),
    "expire": ("按过期处理", "expire"),
    "discharge": ("办理退住", "discharge"),
    "occupy": ("安排入住", "occupy"),
    "set_available": ("设为空闲", "set to available"),
    "set_maintenance": ("设为维修中", "set to under maintenance"),
    # home-care booking
    "check_out": ("签退", "check out"),
    "rate": ("评价", "rate"),
    "assign": ("指派护理员", "assign a caregiver"),
    # home-care caregiver
    "issue_api_key": ("签发密钥", "issue an API key"),
    "auto_complete": ("因未签退自动结束服务", "complete without a check-out"),
    "submit_correction": ("提交服务记录更正", "submit a correction"),
    "approve_correction": ("批准服务记录更正", "approve the correction"),
    "reject_correction": ("驳回服务记录更正", "reject the correction"),
    # burial claim
    "review": ("审核", "review"),
    "pass": ("审核通过", "pass in review"),
    "reject_at_review": ("审核驳回", "reject in review"),
    "return": ("退回补正", "return for correction"),
    "resubmit": ("重新提交", "resubmit"),
    "approve": ("批准", "approve"),
    "mark_paid": ("标记为已发放", "mark as paid"),
    # lottery, webhooks
    "enter": ("报名", "enter"),
    "draw": ("开奖", "draw"),
    "retry": ("重新投递", "retry"),
    # appeal (复核)
    "uphold": ("维持原决定", "uphold"),
    "overturn": ("撤销原决定", "overturn"),
    "appeal_overturn": ("复核撤销原决定", "overturn on appeal"),
    "appeal_reopen": ("复核撤销原决定后重新受理", "reopen on appeal"),
    "appeal_supersede": ("因复核恢复原申请而关闭", "close for the application restored on appeal"),
}

ROLE_NAMES: Names = {
    "citizen": ("市民", "citizen"),
    "office": ("婚姻登记机关工作人员", "office"),
    "institution": ("养老机构工作人员", "institution"),
    "provider": ("居家养老服务机构工作人员", "provider"),
    "reviewer": ("审核人员", "reviewer"),
    "approver": ("审批人员", "approver"),
    "identity_verifier": ("实名认证服务", "identity_verifier"),
    "caregiver": ("居家养老服务护理员", "caregiver"),
    "admin": ("平台管理员", "admin"),
}

ORG_KIND_NAMES: Names = {
    "registration_office": ("婚姻登记机关", "registration_office"),
    "care_institution": ("养老机构", "care_institution"),
    "home_care_provider": ("居家养老服务机构", "home_care_provider"),
    "civil_affairs_bureau": ("民政部门", "civil_affairs_bureau"),
    "platform_service": ("平台服务机构", "platform_service"),
    "platform": ("平台", "platform"),
}

BED_CATEGORY_NAMES: Names = {
    "self_care": ("自理", "self-care"),
    "semi_care": ("半护理", "semi-care"),
    "full_care": ("全护理", "full-care"),
    "dementia": ("失智照护", "dementia-care"),
}

BURIAL_METHOD_NAMES: Names = {
    "sea": ("海葬", "sea burial"),
    "tree": ("树葬", "tree burial"),
    "flower": ("花坛葬", "flower-bed burial"),
    "lawn": ("草坪葬", "lawn burial"),
    "scattering": ("骨灰撒散", "scattering"),
    "deep_burial": ("深埋", "deep burial"),
    "wall": ("壁葬", "wall niche"),
}

BURIAL_DOCUMENT_NAMES: Names = {
    "death_certificate": ("死亡证明", "death certificate"),
    "cremation_certificate": ("火化证明", "cremation certificate"),
    "hukou_cancellation": ("户口注销证明", "household-registration cancellation"),
    "burial_certificate": ("安葬证明", "burial certificate"),
    "authorisation": ("委托书", "authorisation"),
    "relation_proof": ("亲属关系证明", "proof of relation"),
}

# What NotFound(what=...) can name: the en noun is the code itself.
NOUNS: Names = {noun: (zh, noun) for noun, zh in {
    "resource": "资源", "organisation": "机构", "API key": "API 密钥",
    "appointment": "预约", "slot": "时段", "office": "婚姻登记机关",
    "weekly schedule": "每周排班", "closure": "休息日", "special day": "特别开放日",
    "divorce case": "离婚登记申请", "institution": "养老机构", "bed": "床位",
    "bed application": "入住申请", "occupancy": "入住记录",
    "lottery": "摇号", "lottery entry": "摇号报名", "official calendar": "官方节假日安排",
    "citizen": "市民账户", "identity": "实名信息", "audit event": "审计记录",
    "provider": "居家养老服务机构", "caregiver": "护理员", "service": "服务项目",
    "offering": "服务报价", "home-care booking": "居家养老服务预约",
    "subsidy": "补贴资格", "burial policy": "生态安葬补贴政策",
    "burial claim": "生态安葬补贴申请", "payment batch": "补贴发放批次",
    "webhook subscription": "事件推送订阅",
    "delivery": "推送记录",
    "appeal": "复核申请",
}.items()}
NOUNS_ZH = {noun: zh for noun, (zh, _en) in NOUNS.items()}


def _code(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def china_time(at: datetime) -> str:
    """`2026-12-04 00:00` in China time, as details say a moment."""
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title_zh: ClassVar[str] = "请求错误"
    title_en: ClassVar[str] = "Bad request"
    detail_zh: ClassVar[str | None] = None
    detail_en: ClassVar[str | None] = None
    # Parameters that are codes, each with the table that names it in both languages.
    names: ClassVar[dict[str, Names]] = {}
    headers: dict[str, str] | None = None

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.extra: dict[str, Any] = {}
        super().__init__(self.code)

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh

    def extensions(self, lang: str) -> dict[str, Any]:
        """The problem's extension members, as said in `lang`."""
        return self.extra

    def detail(self, lang: str) -> str:
        template = self.detail_en if lang == "en" else self.detail_zh
        if template is None:
            return self.title(lang)
        params = self.localised_params(lang)
        if params is None:
            return self.title(lang)
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            return self.title(lang)

    def localised_params(self, lang: str) -> dict[str, Any] | None:
        """The params with each code named in `lang`; None when a zh-CN name is
        missing (the caller then says the title rather than an English code)."""
        out = dict(self.params)
        for param, table in self.names.items():
            if param not in out:
                continue
            code = _code(out[param])
            pair = table.get(code)
            if pair is None:
                if lang != "en":
                    return None
                out[param] = code
            else:
                out[param] = pair[1] if lang == "en" else pair[0]
        return out


def _error(name: str, code: str, status: int, zh: str, en: str,
           detail_zh: str | None = None, detail_en: str | None = None,
           names: dict[str, Names] | None = None) -> type[DomainError]:
    attrs: dict[str, Any] = {
        "code": code, "status": status, "title_zh": zh, "title_en": en,
        "detail_zh": detail_zh, "detail_en": detail_en,
    }
    if names:
        attrs["names"] = names
    return type(name, (DomainError,), attrs)


# 400
BadRequest = _error("BadRequest", "bad_request", 400, "请求格式错误", "Malformed request")
MalformedJson = _error("MalformedJson", "malformed_json", 400, "请求体不是有效的 JSON",
                       "The request body is not valid JSON")
IdempotencyKeyRequired = _error(
    "IdempotencyKeyRequired", "idempotency_key_required", 400,
    "缺少 Idempotency-Key 请求头", "Idempotency-Key header required",
    "创建类请求必须带 Idempotency-Key（1-255 个可打印字符）。",
    "Requests that create resources need an Idempotency-Key of 1-255 printable characters.")
InvalidCursor = _error("InvalidCursor", "invalid_cursor", 400, "分页游标无效", "Invalid cursor")
# 401 / 403 / 404
Unauthenticated = _error("Unauthenticated", "unauthenticated", 401, "未认证", "Not authenticated",
                         "需要有效的凭证。", "Valid credentials are required.")
InvalidToken = _error("InvalidToken", "invalid_token", 401, "令牌无效或已过期",
                      "Invalid or expired token")
InvalidApiKey = _error("InvalidApiKey", "invalid_api_key", 401, "API 密钥无效或已吊销",
                       "Invalid or revoked API key")
_Forbidden = _error("Forbidden", "forbidden", 403, "无权执行此操作",
                    "You may not perform this operation",
                    "该操作需要以下角色之一：{roles}。",
                    "This operation needs one of the roles: {roles}.")


class Forbidden(_Forbidden):
    """`roles`: the roles that may, as a list or as one comma-separated string."""

    def localised_params(self, lang: str) -> dict[str, Any] | None:
        roles = self.params.get("roles", ())
        codes = [r.strip() for r in roles.split(",")] if isinstance(roles, str) \
            else [_code(r) for r in roles]
        codes = [c for c in codes if c]
        if not codes:
            return None
        if lang == "en":
            return {"roles": ", ".join(codes)}
        if any(c not in ROLE_NAMES for c in codes):
            return None
        return {"roles": "、".join(ROLE_NAMES[c][0] for c in codes)}


IdentityNotVerified = _error(
    "IdentityNotVerified", "identity_not_verified", 403, "账号尚未实名认证",
    "The account has no verified real-name identity",
    "请先完成实名认证，再办理预约、申请或报名。",
    "Complete real-name verification before booking, applying or claiming.")
SeparationOfDuties = _error("SeparationOfDuties", "separation_of_duties", 403,
                            "审核与审批须由不同人员完成",
                            "Review and approval need different staff members")
_NotFound = _error("NotFound", "not_found", 404, "资源不存在", "Not found",
                   "找不到该{what}。", "No such {what}.", names={"what": NOUNS})


class NotFound(_NotFound):
    """An object that does not exist, or is not the caller's (same answer)."""

    def localised_params(self, lang: str) -> dict[str, Any] | None:
        what = _code(self.params.get("what", "resource"))
        if lang == "en":
            return {"what": what}
        return {"what": NOUNS.get(what, NOUNS["resource"])[0]}


MethodNotAllowed = _error("MethodNotAllowed", "method_not_allowed", 405, "不支持该请求方法",
                          "Method not allowed")
# 409
Conflict = _error("Conflict", "conflict", 409, "与当前状态冲突", "Conflict with the current state")
_InvalidState = _error("InvalidState", "invalid_state", 409, "当前状态不允许此操作",
                       "Not allowed in the current state",
                       "当前状态为“{status}”，不能{action}。",
                       "Cannot {action} while the status is {status}.",
                       names={"status": STATUS_NAMES, "action": ACTION_NAMES})


class InvalidState(_InvalidState):
    """`InvalidState(status=<the current status value>, action=<an ACTION_NAMES code>)`;
    the problem also carries `current_status`."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if "status" in params:
            self.extra["current_status"] = _code(params["status"])

    def detail(self, lang: str) -> str:
        if lang == "en" or self.localised_params(lang) is not None:
            return super().detail(lang)
        # A code without a Chinese name: say what is known, in Chinese only.
        status = STATUS_NAMES.get(_code(self.params.get("status", "")))
        action = ACTION_NAMES.get(_code(self.params.get("action", "")))
        if status is not None:
            return f"当前状态为“{status[0]}”，不允许此操作。"
        if action is not None:
            return f"当前状态下不能{action[0]}。"
        return "当前状态不允许此操作。"


SlotFull = _error("SlotFull", "slot_full", 409, "该时段已约满", "This slot is full")
CapacityBelowBooked = _error(
    "CapacityBelowBooked", "capacity_below_booked", 409, "容量低于已预约数",
    "Capacity below existing bookings",
    "已有 {affected} 个预约超出新的容量；如需同时取消这些预约，请将 cancel_affected "
    "设为 true 后重新提交。",
    "{affected} existing appointments exceed the new capacity; to cancel them, send the "
    "request again with cancel_affected set to true.")
IdempotencyInFlight = _error("IdempotencyInFlight", "idempotency_in_flight", 409,
                             "相同 Idempotency-Key 的请求正在处理中",
                             "A request with this Idempotency-Key is still in progress")
DuplicateOrganisation = _error("DuplicateName", "duplicate", 409, "名称已存在",
                               "Already exists")
# 412 / 428
PreconditionFailed = _error("PreconditionFailed", "precondition_failed", 412,
                            "资源已被修改，请刷新后重试",
                            "The resource has changed; reload and try again")
PreconditionRequired = _error("PreconditionRequired", "precondition_required", 428,
                              "需要 If-Match 请求头", "If-Match header required")
# 413 / 415
PayloadTooLarge = _error("PayloadTooLarge", "payload_too_large", 413, "请求体过大",
                         "Request body too large",
                         "请求体不得超过 {limit} 字节。", "The body may not exceed {limit} bytes.")
UnsupportedMediaType = _error("UnsupportedMediaType", "unsupported_media_type", 415,
                              "不支持的内容类型", "Unsupported media type",
                              "请求体须为 application/json。", "The body must be application/json.")
# 422
_ValidationFailed = _error("ValidationFailed", "validation_error", 422, "字段校验失败",
                           "Field validation failed")


class ValidationFailed(_ValidationFailed):
    """Field validation: `extra["errors"]` holds `{"loc", "type", "msg"}` items; a
    service that refuses a field itself gives `msg` as a (zh-CN, en) pair."""

    def extensions(self, lang: str) -> dict[str, Any]:
        out = dict(self.extra)
        if isinstance(out.get("errors"), list):
            out["errors"] = [
                dict(e, msg=e["msg"][1] if lang == "en" else e["msg"][0])
                if isinstance(e, dict) and isinstance(e.get("msg"), tuple) else e
                for e in out["errors"]]
        return out


_InvalidIdNumber = _error("InvalidIdNumber", "invalid_id_number", 422, "身份证号码无效",
                          "Invalid identity number",
                          "{field} 不是有效的居民身份证号码。",
                          "{field} is not a valid resident identity number.")

# What is wrong with an identity number (the `reason` extension member).
ID_NUMBER_REASONS: dict[str, tuple[str, str]] = {
    "length": ("{field}：居民身份证号码应为 18 位。",
               "{field}: a resident identity number has 18 characters."),
    "format": ("{field}：号码格式不正确，前 17 位应为数字（首位不为 0），末位为数字或 X。",
               "{field}: the first 17 characters must be digits (the first not 0) and the "
               "last a digit or X."),
    "birth_date": ("{field}：号码中的出生日期（第 7 至 14 位）不是有效的日期。",
                   "{field}: the birth date in it (characters 7 to 14) is not a valid date."),
    "checksum": ("{field}：校验码（第 18 位）与前 17 位不符，请核对号码。",
                 "{field}: the check character (the 18th) does not match the first 17; "
                 "check the number."),
}


class InvalidIdNumber(_InvalidIdNumber):
    """`InvalidIdNumber(field=<the field path>, reason=<an ID_NUMBER_REASONS key>)`;
    the problem carries `field` and `reason`, never the number."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if "field" in params:
            self.extra["field"] = params["field"]
        if params.get("reason") in ID_NUMBER_REASONS:
            self.extra["reason"] = params["reason"]

    def detail(self, lang: str) -> str:
        pair = ID_NUMBER_REASONS.get(self.params.get("reason", ""))
        if pair is None or "field" not in self.params:
            return super().detail(lang)
        return (pair[1] if lang == "en" else pair[0]).format(field=self.params["field"])


InvalidDivisionCode = _error("InvalidDivisionCode", "invalid_division_code", 422,
                             "行政区划代码无效", "Invalid division code",
                             "{code} 不是有效的行政区划代码。",
                             "{code} is not a valid division code.")
IdempotencyKeyReused = _error("IdempotencyKeyReused", "idempotency_key_reused", 422,
                              "Idempotency-Key 已用于另一个请求",
                              "Idempotency-Key already used for a different request")
RoleNotAllowed = _error("RoleNotAllowed", "role_not_allowed", 422, "该机构不能持有此角色",
                        "This organisation cannot hold that role",
                        "{kind}不能持有“{role}”角色的密钥。",
                        "An organisation of kind {kind} cannot hold the role {role}.",
                        names={"kind": ORG_KIND_NAMES, "role": ROLE_NAMES})
# 429 / 5xx
RateLimited = _error("RateLimited", "rate_limited", 429, "请求过于频繁", "Too many requests")
InternalError = _error("InternalError", "internal_error", 500, "服务器内部错误",
                       "Internal server error")
DatabaseUnavailable = _error("DatabaseUnavailable", "database_unavailable", 503,
                             "数据库暂不可用", "Database unavailable")


# --- marriage registration (DOMAIN.md section 1) ---
_PartyHasActiveAppointment = _error(
    "PartyHasActiveAppointment", "party_has_active_appointment", 409,
    "当事人已有一个有效的婚姻登记预约", "A party already holds an active appointment",
    "同一当事人同一时间只能持有一个有效的婚姻登记预约（全国范围）。",
    "A person may hold only one active marriage-registration appointment, in any office.")


class PartyHasActiveAppointment(_PartyHasActiveAppointment):
    """`PartyHasActiveAppointment(party_indexes=[...])`: the 0-based positions in
    `parties` of those who already hold one; the problem carries `party_index` (the
    first) and `party_indexes`. Without them, the general rule is said."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        indexes = sorted(params.get("party_indexes") or ())
        if indexes:
            self.extra["party_index"] = indexes[0]
            self.extra["party_indexes"] = indexes

    def detail(self, lang: str) -> str:
        indexes = self.extra.get("party_indexes")
        if not indexes:
            return super().detail(lang)
        if lang == "en":
            who = ("party " if len(indexes) == 1 else "parties ") + \
                " and ".join(str(i + 1) for i in indexes)
            return (f"{who.capitalize()} (counting from 1) already "
                    f"{'holds' if len(indexes) == 1 else 'hold'} an active marriage-registration "
                    "appointment; a person may hold only one, in any office.")
        who = "、".join(str(i + 1) for i in indexes)
        return (f"第 {who} 位当事人已持有一个有效的婚姻登记预约；同一当事人同一时间只能"
                "持有一个（全国范围）。")


ScheduleNotSet = _error(
    "ScheduleNotSet", "schedule_not_set", 409, "尚未发布每周排班", "No weekly schedule yet",
    "请先发布每周排班，再设置休息日或特别开放日。",
    "Publish the weekly schedule before adding closures or special days.")
SessionNotEnded = _error(
    "SessionNotEnded", "session_not_ended", 409, "场次尚未结束", "The session has not ended",
    "场次于 {ends_at} 结束，之后才能标记为未到。",
    "The session ends at {ends_at}; only then can it be marked as a no-show.")
Underage = _error(
    "Underage", "underage", 422, "未达法定婚龄", "Below the legal marriage age",
    "预约日期当天，男方须年满 {male} 周岁，女方须年满 {female} 周岁。",
    "On the appointment date the man must be at least {male} and the woman at least {female}.")
InvalidParties = _error(
    "InvalidParties", "invalid_parties", 422, "当事人不符合要求",
    "The parties do not fit this kind of appointment", "{reason_zh}", "{reason_en}")
_OutsideBookingWindow = _error(
    "OutsideBookingWindow", "outside_booking_window", 422, "不在可预约时间内",
    "Outside the booking window",
    "可预约 {opens_days} 天内、且距开始至少 {notice_hours} 小时的场次。",
    "Sessions can be booked up to {opens_days} days ahead and at least {notice_hours} hours "
    "before they start.")


class OutsideBookingWindow(_OutsideBookingWindow):
    """Not yet open: `OutsideBookingWindow(opens_at=<aware datetime>, opens_days=n)`;
    too late: `OutsideBookingWindow(closed_at=<aware datetime>, notice_hours=n)`. The
    problem carries `opens_at` or `closed_at` (RFC 3339, China time)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        for key in ("opens_at", "closed_at"):
            if isinstance(params.get(key), datetime):
                self.extra[key] = params[key].astimezone(CHINA_TZ).isoformat()

    def detail(self, lang: str) -> str:
        p = self.params
        en = lang == "en"
        if isinstance(p.get("opens_at"), datetime):
            at = china_time(p["opens_at"])
            days = p.get("opens_days")
            if en:
                return (f"This session opens for booking at {at} China time"
                        + (f" ({days} days ahead)." if days is not None else "."))
            return (f"该场次将于北京时间 {at} 开放预约"
                    + (f"（提前 {days} 天开放）。" if days is not None else "。"))
        if isinstance(p.get("closed_at"), datetime):
            at = china_time(p["closed_at"])
            hours = p.get("notice_hours")
            if en:
                return (f"Booking for this session closed at {at} China time"
                        + (f": sessions must be booked at least {hours} hours before they "
                           "start." if hours is not None else "."))
            return (f"该场次已于北京时间 {at} 停止预约"
                    + (f"：须在场次开始前至少 {hours} 小时预约。" if hours is not None else "。"))
        return super().detail(lang)


OutsideConfirmationWindow = _error(
    "OutsideConfirmationWindow", "outside_confirmation_window", 422,
    "不在离婚确认期内", "Outside the divorce confirmation window",
    "离婚登记确认只能预约 {first} 至 {last} 之间的场次。",
    "A divorce confirmation can be booked only for sessions from {first} to {last}.")
BookingSuspended = _error(
    "BookingSuspended", "booking_suspended", 422, "因多次未到暂停预约",
    "Booking suspended after repeated no-shows",
    "当事人因多次预约未到，{until} 前不能预约。",
    "A party missed appointments repeatedly and cannot book before {until}.")
CancelDeadlinePassed = _error(
    "CancelDeadlinePassed", "cancel_deadline_passed", 422, "已过取消截止时间",
    "The cancellation deadline has passed",
    "须在场次开始前 {hours} 小时取消。",
    "Appointments can be cancelled until {hours} hours before the session.")
InvalidCheckInCode = _error(
    "InvalidCheckInCode", "invalid_check_in_code", 422, "签到码不正确",
    "Wrong check-in code")
CheckInNotToday = _error(
    "CheckInNotToday", "check_in_not_today", 422, "只能在预约当天签到",
    "Check-in is only possible on the appointment date",
    "该预约的日期是 {date}。", "The appointment is on {date}.")
DateRangeTooLong = _error(
    "DateRangeTooLong", "date_range_too_long", 422, "查询日期范围过长",
    "Date range too long",
    "查询参数 from 与 to 之间最多 {days} 天（含首尾），且 to 不早于 from。",
    "At most {days} days from `from` to `to` inclusive, and `to` not before `from`.")
InvalidSessions = _error(
    "InvalidSessions", "invalid_sessions", 422, "场次设置无效", "Invalid sessions",
    "{reason_zh}", "{reason_en}")

# --- marriage lotteries (API.md "Fair release of peak dates") ---
DuplicateEntry = _error(
    "DuplicateEntry", "duplicate_entry", 409, "当事人已报名本次摇号",
    "A party has already entered this lottery",
    "同一当事人在一次摇号中只能报名一次。", "A person may enter a lottery only once.")
DuplicateLottery = _error(
    "DuplicateLottery", "duplicate_lottery", 409, "该日期已有摇号",
    "This date already has a lottery",
    "该婚姻登记机关在 {date} 已安排摇号。", "The office already has a lottery on {date}.")
LotteryNotDrawn = _error(
    "LotteryNotDrawn", "lottery_not_drawn", 409, "尚未开奖", "The lottery has not been drawn",
    "开奖后才公布报名结果。", "The entries are published once the lottery is drawn.")
DateInLottery = _error(
    "DateInLottery", "date_in_lottery", 422, "该日期以摇号方式放号",
    "This date is released by lottery",
    "{date} 的场次以摇号方式放号，不接受先到先得的预约；请在报名期内报名摇号。",
    "The sessions of {date} are released by lottery, not first-come; enter the lottery "
    "while it is open.")
InvalidLottery = _error(
    "InvalidLottery", "invalid_lottery", 422, "摇号设置无效", "Invalid lottery",
    "{reason_zh}", "{reason_en}")
InvalidPreferences = _error(
    "InvalidPreferences", "invalid_session_preferences", 422, "意向场次无效",
    "Invalid session preferences", "{reason_zh}", "{reason_en}")

# --- elderly-care beds (DOMAIN.md section 2) ---
NoBedAvailable = _error(
    "NoBedAvailable", "no_bed_available", 409, "没有空余床位", "No bed available",
    "该机构没有可用的{category}床位。", "The institution has no available {category} bed.",
    names={"category": BED_CATEGORY_NAMES})
DuplicateApplication = _error(
    "DuplicateApplication", "duplicate_application", 409, "已有同类在办申请",
    "An active application already exists",
    "该老人在此机构已有一个同类床位的在办申请。",
    "The elder already has an active application for this bed category here.")
TooManyActiveApplications = _error(
    "TooManyActiveApplications", "too_many_active_applications", 409, "在办申请过多",
    "Too many active applications",
    "每位老人最多同时有 {limit} 个在办入住申请。",
    "An elder may hold at most {limit} active applications.")
ElderAlreadyResident = _error(
    "ElderAlreadyResident", "elder_already_resident", 409, "老人已在院入住",
    "The elder already lives in an institution",
    "该老人目前已占用一张床位（本机构或其他机构），须先办理出院才能再次入住。",
    "The elder occupies a bed (here or at another institution); that stay must be "
    "discharged before another admission.")
DuplicateBedCode = _error(
    "DuplicateBedCode", "duplicate_bed_code", 409, "床位编号已存在", "Bed code already exists",
    "本机构已有编号为 {code} 的床位。", "The institution already has a bed {code}.")
# Same code as the marriage `Underage`, with the beds wording.
ApplicantUnderage = type("ApplicantUnderage", (Underage,), {
    "title_zh": "未达到申请入住的年龄", "title_en": "Below the minimum age to apply",
    "detail_zh": "申请入住的老人须年满 {min_age} 周岁。",
    "detail_en": "The elder must be at least {min_age} years old to apply.",
})

# --- citizen tokens ---
# A genuine token past its `exp`: its own code, so a mini-program knows to sign in
# again rather than report a bug. Anything else wrong with a token is `invalid_token`.
TokenExpired = _error(
    "TokenExpired", "token_expired", 401, "令牌已过期", "Token expired",
    "登录令牌已于 {expired_at} 过期，请重新登录。",
    "The token expired at {expired_at}; sign in again.")

# --- home and community care (DOMAIN.md section 3) ---
NOUNS_ZH.update({
    "provider": "居家养老服务机构", "service offering": "服务项目", "caregiver": "护理员",
    "home-care booking": "居家服务预约", "time off": "请假记录",
    "centre session": "助餐/日间照料场次", "centre booking": "助餐/日间照料预约",
})
NoCaregiverAvailable = _error(
    "NoCaregiverAvailable", "no_caregiver_available", 409, "没有可用的护理员",
    "No caregiver available",
    "该时间没有具备此项技能、且空闲（含路途缓冲）的护理员。",
    "No caregiver with this skill is free at that time (travel buffer included).")
BookingsAffected = _error(
    "BookingsAffected", "bookings_affected", 409, "该变更影响已预约的上门服务",
    "The change strands booked visits",
    "有 {affected} 个已预约的上门服务受影响；如需取消它们，请在请求中注明 cancel_affected。",
    "{affected} booked visits are affected; send cancel_affected to cancel them.")
VisitNotEnded = _error(
    "VisitNotEnded", "visit_not_ended", 409, "服务时间尚未结束", "The visit has not ended",
    "该服务于 {ends_at} 结束，之后才能标记为未上门。",
    "The visit ends at {ends_at}; only then can it be marked as a no-show.")
AlreadyRated = _error(
    "AlreadyRated", "already_rated", 409, "已评价过该服务", "The visit is already rated")
InvalidStartTime = _error(
    "InvalidStartTime", "invalid_start_time", 422, "开始时间不在可预约的时间点上",
    "The start time is not on the booking grid",
    "开始时间须为整点或每 {minutes} 分钟的时间点（北京时间）。",
    "Visits start on the {minutes}-minute grid (China time).")
CheckInOutsideWindow = _error(
    "CheckInOutsideWindow", "check_in_outside_window", 422, "不在签到时间内",
    "Outside the check-in window",
    "只能在服务开始前 {minutes} 分钟至服务结束时间之间签到（迟到可签到，记为异常）。",
    "Check-in is possible from {minutes} minutes before the visit's start until its end "
    "(late is recorded as an exception, not refused).")
CorrectionOutsideVisit = _error(
    "CorrectionOutsideVisit", "correction_outside_visit", 422, "更正的服务时间不在允许范围内",
    "The corrected times lie outside the visit",
    "实际开始和结束时间须在 {earliest} 至 {latest} 之间（北京时间），且不晚于当前时间。",
    "The actual start and end must lie between {earliest} and {latest} (China time), and "
    "not in the future.")
CancelReasonRequired = _error(
    "CancelReasonRequired", "cancel_reason_required", 422, "服务机构取消须说明原因",
    "A provider's cancellation needs a reason")
OfficeCancelReasonRequired = type("OfficeCancelReasonRequired", (CancelReasonRequired,), {
    "title_zh": "婚姻登记机关取消预约须说明原因",
    "title_en": "An office's cancellation needs a reason",
    "detail_zh": "请在 reason 中说明取消原因（如窗口关闭、登记员缺勤），当事人会看到。",
    "detail_en": "Give the reason in `reason` (a counter closed, a registrar ill); the couple "
                 "sees it.",
})
SessionEnded = _error(
    "SessionEnded", "session_ended", 422, "场次已结束", "The session has ended",
    "该场次已于 {ends_at} 结束，不能再取消；未到场的请标记为未到。",
    "The session ended at {ends_at}: it can no longer be cancelled (mark a no-show instead).")
VisitCancelDeadlinePassed = type("VisitCancelDeadlinePassed", (CancelDeadlinePassed,), {
    "detail_zh": "须在服务开始前 {hours} 小时取消。",
    "detail_en": "Visits can be cancelled until {hours} hours before they start.",
})
ElderUnderage = type("ElderUnderage", (Underage,), {
    "title_zh": "未达到居家养老服务的年龄", "title_en": "Below the minimum age for home care",
    "detail_zh": "服务对象须年满 {min_age} 周岁。",
    "detail_en": "The elder must be at least {min_age} years old.",
})
DuplicateSeat = _error(
    "DuplicateSeat", "duplicate_seat", 409, "该老人已预约此场次",
    "The elder already holds a seat in this session")

# --- eco-burial subsidy claims (DOMAIN.md section 4) ---
PolicyOverlap = _error(
    "PolicyOverlap", "policy_overlap", 409, "与已有政策的有效期重叠",
    "Overlaps an existing policy's period",
    "{division_code} 的{method}补贴已有有效期为 {period} 的政策（见 policy_id）；"
    "同一地区同一方式的有效期不能重叠，生效中的政策只能由明天及以后开始的新政策接替。",
    "{division_code} already has a {method} policy for {period} (see policy_id); periods "
    "of one division and method never overlap, and a policy in force is only superseded "
    "from tomorrow on.", names={"method": BURIAL_METHOD_NAMES})
DuplicateClaim = _error(
    "DuplicateClaim", "duplicate_claim", 409, "该逝者已有奖补申请",
    "A claim for this deceased already exists",
    "每位逝者只能有一个奖补申请（已撤回或被驳回的除外）。",
    "Only one claim per deceased (other than withdrawn or rejected ones).")
NothingToPay = _error(
    "NothingToPay", "nothing_to_pay", 409, "没有待发放的申请",
    "No approved claims awaiting payment",
    "辖区内没有已审批、未发放且未列入批次的申请。",
    "No approved, unpaid claims within the jurisdiction are outside a batch.")
NoApplicablePolicy = _error(
    "NoApplicablePolicy", "no_applicable_policy", 422, "没有适用的奖补政策",
    "No applicable subsidy policy",
    "户籍地 {division_code} 在安葬日期 {burial_date} 没有{method}的奖补政策。",
    "No {method} policy was in force for {division_code} on the burial date {burial_date}.",
    names={"method": BURIAL_METHOD_NAMES})
ClaimDeadlinePassed = _error(
    "ClaimDeadlinePassed", "claim_deadline_passed", 422, "已过申请期限",
    "The claim deadline has passed",
    "须在安葬后 {days} 天内（{deadline} 前）申请。",
    "Claims must be made within {days} days of the burial (by {deadline}).")
DeathDateInFuture = _error(
    "DeathDateInFuture", "death_date_in_future", 422, "死亡日期晚于今天",
    "The date of death is in the future")
BurialDateInFuture = _error(
    "BurialDateInFuture", "burial_date_in_future", 422, "安葬日期晚于今天",
    "The burial date is in the future", "安葬后才能申请奖补。", "Claim after the burial.")
BurialBeforeDeath = _error(
    "BurialBeforeDeath", "burial_before_death", 422, "安葬日期早于死亡日期",
    "The burial date is before the date of death")
DeathBeforeBirth = _error(
    "DeathBeforeBirth", "death_before_birth", 422, "死亡日期早于出生日期",
    "The date of death is before the birth date in the identity number")
ClaimantIsDeceased = _error(
    "ClaimantIsDeceased", "claimant_is_deceased", 422, "申请人与逝者为同一人",
    "The claimant and the deceased are the same person")
ClaimantNotAdult = _error(
    "ClaimantNotAdult", "claimant_not_adult", 422, "申请人未成年",
    "The claimant is not an adult",
    "申请人须年满 {min_age} 周岁。", "The claimant must be at least {min_age} years old.")
ClaimantNotAccountHolder = _error(
    "ClaimantNotAccountHolder", "claimant_not_account_holder", 422, "申请人须为账号实名本人",
    "The claimant must be the account holder")
ApplicantNotAParty = _error(
    "ApplicantNotAParty", "applicant_not_a_party", 422, "预约当事人须包括账号实名本人",
    "The account holder must be a party",
    "已实名认证的账号只能为包括本人在内的当事人预约。",
    "A verified account books only appointments in which its own person is a party.")
InvalidRelation = _error(
    "InvalidRelation", "invalid_relation", 422, "与逝者关系不在可申请范围内",
    "Relation not eligible",
    "关系须为 spouse、child、parent、sibling 或 agent（代理人）。",
    "The relation must be spouse, child, parent, sibling or agent.")
AuthorisationRequired = _error(
    "AuthorisationRequired", "authorisation_required", 422, "代理人须提供委托书",
    "An agent needs an authorisation document",
    "代理申请须附 authorisation（委托书）。",
    "A claim by an agent needs an `authorisation` document.")
_MissingDocument = _error(
    "MissingDocument", "missing_document", 422, "缺少必需材料", "A required document is missing",
    "缺少：{missing}。", "Missing: {missing}.")


class MissingDocument(_MissingDocument):
    """`MissingDocument(missing=[document kind codes])`; the problem carries `missing`."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.extra["missing"] = [_code(k) for k in params.get("missing", ())]

    def localised_params(self, lang: str) -> dict[str, Any] | None:
        codes = self.extra["missing"]
        if not codes or (lang != "en" and any(c not in BURIAL_DOCUMENT_NAMES for c in codes)):
            return None
        if lang == "en":
            return {"missing": ", ".join(BURIAL_DOCUMENT_NAMES.get(c, (c, c))[1]
                                         for c in codes)}
        return {"missing": "、".join(BURIAL_DOCUMENT_NAMES[c][0] for c in codes)}

# --- credentials (API.md "Authentication and roles": both kinds, or a malformed one, is 401) ---
ConflictingCredentials = _error(
    "ConflictingCredentials", "conflicting_credentials", 401, "请求同时带有令牌和 API 密钥",
    "Both a bearer token and an API key were sent",
    "请只使用一种凭证：公民用 Authorization: Bearer 令牌，机构工作人员用 X-API-Key。",
    "Send one kind of credentials: citizens `Authorization: Bearer <token>`, staff `X-API-Key`.")
MalformedCredentials = _error(
    "MalformedCredentials", "malformed_credentials", 401, "凭证格式错误", "Malformed credentials",
    "{header} 格式错误：须为 {expected}。", "{header} is malformed: it must be {expected}.")
NearRequired = _error(
    "NearRequired", "near_required", 422, "按距离排序需要提供位置", "sort=distance needs near",
    "按距离排序（sort=distance）时须同时提供 near=纬度,经度。",
    "sort=distance needs near=lat,lon.")

# --- notifications and webhooks (API.md "Notifications and webhooks") ---
WEBHOOK_URL_REASONS: Names = {
    "scheme": ("只接受 https 地址", "only https URLs are accepted"),
    "host": ("地址缺少主机名", "the URL has no host"),
    "private_address": ("不能推送到本机、内网或链路本地地址",
                        "private, loopback and link-local addresses are refused"),
    "unresolvable": ("主机名无法解析", "the host name does not resolve"),
    "malformed": ("地址格式错误（端口、主机名或方括号）",
                  "the URL is malformed (its port, host name or brackets)"),
}
_WebhookUrlNotAllowed = _error(
    "WebhookUrlNotAllowed", "webhook_url_not_allowed", 422, "不接受该推送地址",
    "This webhook URL is not accepted",
    "推送地址不符合要求：{reason}。", "The webhook URL is refused: {reason}.",
    names={"reason": WEBHOOK_URL_REASONS})


class WebhookUrlNotAllowed(_WebhookUrlNotAllowed):
    """`WebhookUrlNotAllowed(reason=<a WEBHOOK_URL_REASONS code>)`; the problem carries
    `reason`."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.extra["reason"] = params.get("reason")

# --- delegation (代办, API.md "Delegation") ---
STATUS_NAMES.update({"active": ("生效中", "active"), "revoked": ("已撤销", "revoked")})
ACTION_NAMES.update({"revoke": ("撤销", "revoke")})
NOUNS.update({"delegation": ("代办授权", "delegation")})
NOUNS_ZH.update({"delegation": "代办授权"})
SelfDelegation = _error(
    "SelfDelegation", "self_delegation", 422, "不能授权本人代办", "No delegation to oneself",
    "代办人须为他人。", "The delegate must be someone else.")
InvalidExpiry = _error(
    "InvalidExpiry", "invalid_expiry", 422, "代办有效期不在允许范围内",
    "The expiry date is out of range",
    "有效期须在 {first} 至 {last} 之间。", "expires_on must be from {first} to {last}.")
DuplicateDelegation = _error(
    "DuplicateDelegation", "duplicate_delegation", 409, "已有待确认或生效中的代办授权",
    "A pending or active delegation already exists",
    "同一委托人与代办人之间只能有一个待确认或生效中的代办授权。",
    "One pending or active delegation per principal and delegate.")
NotTheDelegate = _error(
    "NotTheDelegate", "not_the_delegate", 403, "只有代办人本人可以接受或谢绝",
    "Only the delegate may accept or decline")
OutsideJurisdiction = _error(
    "OutsideJurisdiction", "outside_jurisdiction", 403, "不在本机关管辖范围内",
    "Outside the bureau's jurisdiction",
    "{division_code} 不在本民政部门的辖区内。",
    "{division_code} lies outside the bureau's division.")

# --- appeals (复核, DOMAIN.md section 5) ---
NotAppealable = _error(
    "NotAppealable", "not_appealable", 422, "该记录不能申请复核",
    "This record cannot be appealed",
    "只有被驳回的入住申请、被驳回的生态安葬奖补申请和服务记录更正被驳回的居家养老服务"
    "可以申请复核。",
    "Only a rejected bed application, a rejected burial claim, or a home-care visit whose "
    "correction was rejected can be appealed.")
AppealDeadlinePassed = _error(
    "AppealDeadlinePassed", "appeal_deadline_passed", 422, "已过复核申请期限",
    "The appeal deadline has passed",
    "须在被驳回之日起 {days} 日内（{deadline} 前，含当日）申请复核。",
    "An appeal must be filed within {days} days of the refusal (by {deadline}, inclusive).")
DuplicateAppeal = _error(
    "DuplicateAppeal", "duplicate_appeal", 409, "该记录已有待处理的复核申请",
    "This record already has an open appeal",
    "同一记录同时只能有一个待处理的复核申请。",
    "A record has at most one open appeal at a time.")

"""Domain errors: each carries its stable problem `code`, its HTTP status and
its title in zh-CN and en. Services raise these; never HTTPException.

`detail` texts are formatted from the error's `params`, so the same error reads
well in both languages.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title_zh: ClassVar[str] = "请求错误"
    title_en: ClassVar[str] = "Bad request"
    detail_zh: ClassVar[str | None] = None
    detail_en: ClassVar[str | None] = None
    headers: dict[str, str] | None = None

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.extra: dict[str, Any] = {}
        super().__init__(self.code)

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh

    def detail(self, lang: str) -> str:
        template = self.detail_en if lang == "en" else self.detail_zh
        if template is None:
            return self.title(lang)
        try:
            return template.format(**self.params)
        except (KeyError, IndexError):
            return self.title(lang)


def _error(name: str, code: str, status: int, zh: str, en: str,
           detail_zh: str | None = None, detail_en: str | None = None) -> type[DomainError]:
    cls = type(name, (DomainError,), {
        "code": code, "status": status, "title_zh": zh, "title_en": en,
        "detail_zh": detail_zh, "detail_en": detail_en,
    })
    return cls


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
Forbidden = _error("Forbidden", "forbidden", 403, "无权执行此操作",
                   "You may not perform this operation",
                   "该操作需要角色：{roles}。", "This operation needs the role: {roles}.")
SeparationOfDuties = _error("SeparationOfDuties", "separation_of_duties", 403,
                            "审核与审批须由不同人员完成",
                            "Review and approval need different staff members")
_NotFound = _error("NotFound", "not_found", 404, "资源不存在", "Not found",
                   "找不到该{what}。", "No such {what}.")

# The Chinese names of what NotFound(what=...) can name.
NOUNS_ZH = {
    "resource": "资源", "organisation": "机构", "API key": "API 密钥",
    "appointment": "预约", "slot": "时段", "office": "婚姻登记机关",
    "weekly schedule": "每周排班", "closure": "休息日", "special day": "特别开放日",
    "divorce case": "离婚登记申请", "institution": "养老机构", "bed": "床位",
    "bed application": "入住申请", "occupancy": "入住记录",
}


class NotFound(_NotFound):
    """An object that does not exist, or is not the caller's (same answer)."""

    def detail(self, lang: str) -> str:
        what = self.params.get("what", "resource")
        if lang != "en":
            return self.detail_zh.format(what=NOUNS_ZH.get(what, "资源"))  # type: ignore[union-attr]
        return self.detail_en.format(what=what)  # type: ignore[union-attr]
MethodNotAllowed = _error("MethodNotAllowed", "method_not_allowed", 405, "不支持该请求方法",
                          "Method not allowed")
# 409
Conflict = _error("Conflict", "conflict", 409, "与当前状态冲突", "Conflict with the current state")
InvalidState = _error("InvalidState", "invalid_state", 409, "当前状态不允许此操作",
                      "Not allowed in the current state",
                      "当前状态为 {status}，不能{action}。",
                      "The resource is {status}; it cannot be {action}.")
SlotFull = _error("SlotFull", "slot_full", 409, "该时段已约满", "This slot is full")
CapacityBelowBooked = _error(
    "CapacityBelowBooked", "capacity_below_booked", 409, "容量低于已预约数",
    "Capacity below existing bookings",
    "已有 {affected} 个预约受影响；如需取消它们，请在请求中注明。",
    "{affected} existing appointments are affected; say so in the request to cancel them.")
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
ValidationFailed = _error("ValidationFailed", "validation_error", 422, "字段校验失败",
                          "Field validation failed")
InvalidIdNumber = _error("InvalidIdNumber", "invalid_id_number", 422, "身份证号码无效",
                         "Invalid identity number",
                         "{field} 不是有效的居民身份证号码。",
                         "{field} is not a valid resident identity number.")
InvalidDivisionCode = _error("InvalidDivisionCode", "invalid_division_code", 422,
                             "行政区划代码无效", "Invalid division code",
                             "{code} 不是有效的行政区划代码。",
                             "{code} is not a valid division code.")
IdempotencyKeyReused = _error("IdempotencyKeyReused", "idempotency_key_reused", 422,
                              "Idempotency-Key 已用于另一个请求",
                              "Idempotency-Key already used for a different request")
RoleNotAllowed = _error("RoleNotAllowed", "role_not_allowed", 422, "该机构不能持有此角色",
                        "This organisation cannot hold that role",
                        "{kind} 类机构不能持有角色 {role}。",
                        "An organisation of kind {kind} cannot hold the role {role}.")
# 429 / 5xx
RateLimited = _error("RateLimited", "rate_limited", 429, "请求过于频繁", "Too many requests")
InternalError = _error("InternalError", "internal_error", 500, "服务器内部错误",
                       "Internal server error")
DatabaseUnavailable = _error("DatabaseUnavailable", "database_unavailable", 503,
                             "数据库暂不可用", "Database unavailable")


# --- marriage registration (DOMAIN.md section 1) ---
PartyHasActiveAppointment = _error(
    "PartyHasActiveAppointment", "party_has_active_appointment", 409,
    "当事人已有一个有效的婚姻登记预约", "A party already holds an active appointment",
    "同一当事人同一时间只能持有一个有效的婚姻登记预约（全国范围）。",
    "A person may hold only one active marriage-registration appointment, in any office.")
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
OutsideBookingWindow = _error(
    "OutsideBookingWindow", "outside_booking_window", 422, "不在可预约时间内",
    "Outside the booking window",
    "可预约 {opens_days} 天内、且距开始至少 {notice_hours} 小时的场次。",
    "Sessions can be booked up to {opens_days} days ahead and at least {notice_hours} hours "
    "before they start.")
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
    "from 与 to 之间最多 {days} 天（含首尾），且 to 不早于 from。",
    "At most {days} days from `from` to `to` inclusive, and `to` not before `from`.")
InvalidSessions = _error(
    "InvalidSessions", "invalid_sessions", 422, "场次设置无效", "Invalid sessions",
    "{reason_zh}", "{reason_en}")

# --- elderly-care beds (DOMAIN.md section 2) ---
NoBedAvailable = _error(
    "NoBedAvailable", "no_bed_available", 409, "没有空余床位", "No bed available",
    "该机构没有可用的{category}床位。", "The institution has no available {category} bed.")
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
    "只能在服务当天、开始时间前后 {minutes} 分钟内签到。",
    "Check-in is possible on the visit's day, within {minutes} minutes of its start.")
CancelReasonRequired = _error(
    "CancelReasonRequired", "cancel_reason_required", 422, "服务机构取消须说明原因",
    "A provider's cancellation needs a reason")
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

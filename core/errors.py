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
NotFound = _error("NotFound", "not_found", 404, "资源不存在", "Not found",
                  "找不到该{what}。", "No such {what}.")
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

# --- elderly-care beds (DOMAIN.md section 2) ---

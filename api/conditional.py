"""The one way routes emit `ETag` and answer conditional reads.

A route that returns an ETag'd resource takes `Conditional` and ends with
`return cond.respond(item, tag)`: the response carries `ETag: tag`, and a GET
whose `If-None-Match` names it is answered 304 with no body (RFC 9110 13.1.2).
Writes use the same call (no 304 there); their `If-Match` is checked in the
service, by `core.writes.versioned_update`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response

from api.deps import documented
from services.etag import none_match

T = TypeVar("T")

READS = {"GET", "HEAD"}

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` names the current `ETag` (no body)",
          "headers": {"ETag": {"description": "The current entity tag",
                               "schema": {"type": "string"}}}},
}


class ConditionalResponse:
    def __init__(self, request: Request, response: Response) -> None:
        self.request = request
        self.response = response

    def respond(self, body: T, tag: str) -> T | Response:
        """`body` with `ETag: tag`, or 304 when a read's If-None-Match names `tag`."""
        self.response.headers["ETag"] = tag
        if self.request.method in READS and none_match(
                self.request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers={"ETag": tag})
        return body


# `documented`: the OpenAPI document lists `ETag` on the success answer of every
# operation that takes one of these (api.app), so none can forget it.
@documented(response_headers=("ETag",))
async def _conditional(request: Request, response: Response,
                       if_none_match: Annotated[str | None, Header(
                           alias="If-None-Match",
                           description="An ETag read before: 304 with no body while it is "
                                       "still current",
                           examples=['"bed_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4.2"'])] = None,
                       ) -> ConditionalResponse:
    return ConditionalResponse(request, response)


@documented(response_headers=("ETag",))
async def _etagged(request: Request, response: Response) -> ConditionalResponse:
    return ConditionalResponse(request, response)


# On reads (declares If-None-Match in the OpenAPI document) ...
Conditional = Annotated[ConditionalResponse, Depends(_conditional)]
# ... and on writes, which answer with the new ETag.
ETagged = Annotated[ConditionalResponse, Depends(_etagged)]

"""Open statistics (公开数据): aggregates of the four services, public and cheap.

- `suppression`: the one small-numbers rule every figure about people goes through;
- `answers`: the per-process cache every answer is kept in (serialized, for at most
  `TTL_SECONDS`), computed once per key however many requests arrive at once;
- `scope`: the division and the period a request names;
- `beds`, `marriage`, `burial`, `home_care`: one aggregate per service, read-only
  queries over that service's tables (the only service package that reads other
  domains' tables, and only to count them);
- `charts` and `page`: the `/stats` HTML page with its SVG charts, drawn here.
"""

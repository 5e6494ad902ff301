"""The marriage operations in the OpenAPI document: examples for what they accept
and return, and the problem codes each can answer with."""

from __future__ import annotations


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _example_of(doc: dict, media: dict) -> object:
    if media.get("example") is not None or media.get("examples"):
        return media.get("example") or media.get("examples")
    schema = _resolve(doc, media.get("schema", {}))
    if schema.get("examples"):
        return schema["examples"]
    if "anyOf" in schema:  # one model per kind of caller: each must have examples
        found = [_example_of(doc, {"schema": branch}) for branch in schema["anyOf"]]
        return found if all(found) else None
    if schema.get("type") == "array":
        return _resolve(doc, schema["items"]).get("examples")
    items = schema.get("properties", {}).get("items")
    if items and items.get("type") == "array":
        return _example_of(doc, {"schema": items["items"]})
    return None


async def test_every_marriage_operation_has_examples_and_errors(app):
    doc = app.openapi()
    ops = [(m.upper(), p, op) for p, item in doc["paths"].items() if "/marriage/" in p
           for m, op in item.items()]
    assert len(ops) >= 20
    problems = []
    for method, path, op in ops:
        where = f"{method} {path}"
        if op.get("tags") != ["marriage"]:
            problems.append(f"{where}: tags {op.get('tags')}")
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                if status.startswith("2") and _example_of(doc, media) is None:
                    problems.append(f"{where}: {status} has no example")
        if not any(s.startswith("4") and s not in ("422", "429") for s in op["responses"]):
            problems.append(f"{where}: no specific error listed")
    assert not problems, "\n".join(problems)


async def test_booking_lists_its_problem_codes(app):
    op = app.openapi()["paths"]["/v1/marriage/appointments"]["post"]

    def codes(status: str) -> set[str]:
        content = op["responses"][status]["content"]["application/problem+json"]
        return set(content.get("examples", {}))

    assert {"slot_full", "party_has_active_appointment", "idempotency_in_flight",
            "invalid_state"} <= codes("409")
    assert {"underage", "outside_booking_window", "booking_suspended", "invalid_id_number",
            "invalid_parties", "outside_confirmation_window",
            "idempotency_key_reused"} <= codes("422")
    assert "idempotency_key_required" in codes("400")
    cancel = app.openapi()["paths"]["/v1/marriage/appointments/{appointment_id}/cancel"]["post"]
    assert "cancel_deadline_passed" in cancel["responses"]["422"]["content"][
        "application/problem+json"]["examples"]

"""The burial operations in the OpenAPI document: a summary, examples for what
they accept and return, the enumerations, and the problem codes each answers with."""

from __future__ import annotations

from tests.api.test_marriage_openapi import _example_of, _resolve


def _codes(op: dict, status: str) -> set[str]:
    content = op["responses"][status]["content"]["application/problem+json"]
    return set(content.get("examples", {}))


async def test_every_burial_operation_has_a_summary_examples_and_errors(app):
    doc = app.openapi()
    ops = [(m.upper(), p, op) for p, item in doc["paths"].items() if "/burial/" in p
           for m, op in item.items()]
    assert len(ops) >= 17
    problems = []
    for method, path, op in ops:
        where = f"{method} {path}"
        if op.get("tags") != ["burial"]:
            problems.append(f"{where}: tags {op.get('tags')}")
        if not op.get("summary"):
            problems.append(f"{where}: no summary")
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                if status.startswith("2") and _example_of(doc, media) is None:
                    problems.append(f"{where}: {status} has no example")
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            schema = body["schema"]
            if "anyOf" in schema:  # an optional body
                schema = next(s for s in schema["anyOf"] if "$ref" in s)
            if not (body.get("examples") or _resolve(doc, schema).get("examples")):
                problems.append(f"{where}: request body has no example")
        if not any(s.startswith("4") and s not in ("422", "429") for s in op["responses"]):
            problems.append(f"{where}: no specific error listed")
    assert not problems, "\n".join(problems)


async def test_the_enumerations_are_in_the_document(app):
    schemas = app.openapi()["components"]["schemas"]
    assert set(schemas["BurialMethod"]["enum"]) == {
        "sea", "tree", "flower", "lawn", "scattering", "deep_burial", "wall"}
    assert set(schemas["ClaimantIn"]["properties"]["relation"]["enum"]) == {
        "spouse", "child", "parent", "sibling", "agent"}
    assert {"death_certificate", "cremation_certificate", "hukou_cancellation",
            "burial_certificate", "authorisation"} <= set(schemas["DocumentKind"]["enum"])
    assert "documents_incomplete" in schemas["ReasonCode"]["enum"]
    assert set(schemas["ClaimStatus"]["enum"]) == {
        "submitted", "returned", "reviewed", "approved", "rejected", "paid", "withdrawn"}
    assert set(schemas["ReviewDecision"]["enum"]) == {"pass", "return", "reject"}


async def test_filing_and_acting_list_their_problem_codes(app):
    paths = app.openapi()["paths"]
    create = paths["/v1/burial/claims"]["post"]
    assert {"duplicate_claim", "idempotency_in_flight"} <= _codes(create, "409")
    assert {"no_applicable_policy", "claim_deadline_passed", "burial_before_death",
            "death_date_in_future", "invalid_id_number", "claimant_is_deceased",
            "claimant_not_adult", "invalid_relation", "authorisation_required",
            "missing_document", "idempotency_key_reused"} <= _codes(create, "422")
    assert "idempotency_key_required" in _codes(create, "400")
    approve = paths["/v1/burial/claims/{claim_id}/approve"]["post"]
    assert {"separation_of_duties", "forbidden"} <= _codes(approve, "403")
    assert "invalid_state" in _codes(approve, "409")
    assert "policy_overlap" in _codes(paths["/v1/burial/policies"]["post"], "409")
    assert "nothing_to_pay" in _codes(paths["/v1/burial/payment-batches"]["post"], "409")

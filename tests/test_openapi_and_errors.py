"""The OpenAPI document matches the routes served, and no bad request ever gets a 500."""

import re

import pytest
from conftest import application_body, sign_in_web


def served_api_paths(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") or rule.rule == "/healthz":
            path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule).replace(
                "{ticket_id}", "{id}"
            )
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                out.add((path, method.lower()))
    return out


def test_openapi_document_describes_exactly_what_is_served(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == served_api_paths(app)


JUNK = [None, "", "x" * 5000, 0, -1, True, [], {}, "🙂", "<script>", "../../etc", "%00"]


@pytest.mark.parametrize("who", ["clerk", "water", "supervisor", "admin", "integration", None])
def test_no_500_for_junk_anywhere(client, users, submit, who):
    case = submit()
    headers = users[who][1] if who else {}
    paths = [
        f"/api/v1/cases/{case['reference']}",
        "/api/v1/cases/%FF",
        "/api/v1/providers/zz-water/tickets",
        f"/api/v1/tickets/{case['tickets'][0]['id']}/actions",
        "/api/v1/tickets/0/actions",
        f"/api/v1/public/cases/{case['reference']}?code=%00",
        "/api/v1/public/cases/" + "Z" * 300,
        "/api/v1/cases",
        "/api/v1/integrations/approval-system/projects",
        "/api/v1/integrations/approval-system/projects?from=2026-01-01&to=%FF&after=%00",
        "/api/v1/integrations/approval-system/projects/%FF",
        "/api/v1/integrations/providers/zz-water/events",
        "/api/v1/integrations/providers/%FF/events",
        "/healthz",
        "/desk/tickets/1",
        "/desk/?page=-5&status=<b>",
        "/cases?q=" + "9" * 100,
        "/cases/nope",
        "/window/receipt/nope",
        "/status?reference=" + "x" * 100,
        "/admin/routing",
        "/nope",
        "/login",
        "/logout",
        "/lang/en",
        "/window/new",
        "/admin/providers",
        "/status",
    ]
    for path in paths:
        assert client.get(path, headers=headers).status_code < 500, path
        for junk in JUNK:
            res = client.post(path, json=junk, headers=headers)
            assert res.status_code < 500, (path, junk)
            res = client.post(
                path,
                json={
                    "action": junk,
                    "reason": junk,
                    "representative": junk,
                    "version": junk,
                    "services": junk,
                    "applicant": junk,
                },
                headers=headers,
            )
            assert res.status_code < 500, (path, junk)
    for key in ("applicant", "address", "project", "materials", "services", "channel"):
        for junk in JUNK:
            res = client.post(
                "/api/v1/cases", json=application_body(**{key: junk}), headers=headers
            )
            assert res.status_code < 500, (key, junk)


@pytest.mark.parametrize(
    "method,path,kwargs",
    [
        (
            "post",
            "/api/v1/cases",
            {"json": application_body(address={"district": "金水区", "detail": "a\x00b"})},
        ),
        ("get", "/api/v1/public/cases/ZZ%00?code=1", {}),
        ("get", "/api/v1/cases/ZZ%00", {}),
        ("get", "/api/v1/providers/%00/tickets", {}),
        ("post", "/api/v1/tickets/99999999999999999999/actions", {"json": {"action": "accept"}}),
        ("get", "/desk/tickets/99999999999999999999", {}),
        ("get", "/desk/?page=99999999999999999999", {}),
        ("post", "/api/v1/cases", {"data": "[" * 100_000, "content_type": "application/json"}),
    ],
)
def test_nul_bytes_huge_numbers_and_deep_json_are_4xx(client, users, method, path, kwargs):
    headers = users["clerk"][1] if path.startswith("/api/v1/cases") else users["water"][1]
    sign_in_web(client, users["water"][0])  # signed in on the web pages too
    res = getattr(client, method)(path, headers=headers, **kwargs)
    if "page=" in path:
        assert res.status_code == 200  # an absurd page is an empty page
    else:
        assert 400 <= res.status_code < 500, (path, res.status_code)


def test_a_crash_logs_no_whole_id_or_phone(app, client, users, caplog, monkeypatch):
    """Even a traceback that carries an applicant's data is masked in the log."""
    import logging

    import jointdesk.api.views
    from jointdesk.logging_setup import RedactingFilter

    def boom(*_args, **_kwargs):
        raise RuntimeError("applicant 11010519491231002X phone 13812345678")

    monkeypatch.setattr(jointdesk.api.views, "case_for_applicant", boom)
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.ERROR):
        assert client.get("/api/v1/public/cases/ZZ1?code=1").status_code == 500
    text = caplog.text
    assert "13812345678" not in text and "11010519491231002X" not in text
    assert "138****5678" in text

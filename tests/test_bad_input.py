"""Bad input of every kind: lone surrogates, non-ASCII digits, wrong methods (issue 6, part 4)."""

import json
import logging

import pytest
from conftest import application_body, valid_person_id
from test_web_ui import application_form, csrf_token, login

from jointdesk.logging_setup import RedactingFilter, redact
from jointdesk.models import Case, Event, OutboxMessage, Ticket
from jointdesk.policy import identity

SURROGATE = "\ud800张"


def counts(db):
    return tuple(
        db.session.execute(db.select(db.func.count()).select_from(m)).scalar_one()
        for m in (Case, Ticket, OutboxMessage, Event)
    )


def post_raw(client, path, body, headers):
    """JSON as a client may really send it: ``\\ud800`` escapes and all."""
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def _with(body, dotted, value):
    target = body
    keys = dotted.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return body


@pytest.mark.parametrize(
    "path,field",
    [
        ("/api/v1/cases", "applicant.name"),
        ("/api/v1/cases", "address.district"),
        ("/api/v1/cases", "address.detail"),
        ("/api/v1/cases", "project.approval_system_code"),
        ("/api/v1/integrations/approval-system/projects", "project.approval_system_code"),
        ("/api/v1/integrations/approval-system/projects", "applicant.name"),
    ],
)
def test_a_lone_surrogate_at_intake_is_422_naming_the_field(client, db, users, path, field):
    who = "integration" if "integrations" in path else "clerk"
    body = application_body()
    if "integrations" in path:
        body = application_body(materials=None)
        body["project"]["approval_system_code"] = "2026-410105-47-01-000777"
    before = counts(db)
    res = post_raw(client, path, _with(body, field, SURROGATE), users[who][1])
    assert res.status_code == 422, res.get_data(as_text=True)[:300]
    assert field in res.get_json()["error"]["fields"]
    assert counts(db) == before


def test_a_lone_surrogate_in_a_key_is_422_too(client, db, users):
    body = application_body()
    body["applicant"][SURROGATE] = "x"
    res = post_raw(client, "/api/v1/cases", body, users["clerk"][1])
    assert res.status_code == 422
    assert res.get_json()["error"]["fields"]


@pytest.fixture
def queued(submit, deliver_all):
    case = submit(services=["water"])
    deliver_all()
    return case["tickets"][0]["id"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"action": "return", "reason": SURROGATE}, "reason"),
        ({"action": "assign", "representative": SURROGATE}, "representative"),
        ({"action": "permit_file", "permit": SURROGATE}, "permit"),
        ({"action": SURROGATE}, "action"),
    ],
)
def test_a_lone_surrogate_in_an_action_is_422_naming_the_field(
    client, db, users, queued, body, field
):
    before = counts(db)
    res = post_raw(client, f"/api/v1/tickets/{queued}/actions", body, users["water"][1])
    assert res.status_code == 422, res.get_data(as_text=True)[:300]
    assert field in res.get_json()["error"]["fields"]
    assert counts(db) == before


def _form_bytes(data: dict) -> bytes:
    """A urlencoded form whose values may hold lone surrogates, written as a browser
    that does not check would: each code point in UTF-8 (surrogates as CESU bytes)."""
    from urllib.parse import quote_from_bytes

    parts = []
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            raw = str(item).encode("utf-8", "surrogatepass")
            parts.append(f"{key}={quote_from_bytes(raw)}")
    return "&".join(parts).encode()


@pytest.mark.parametrize("field", ["applicant_name", "address_detail", "approval_system_code"])
def test_a_lone_surrogate_in_the_window_form_never_reaches_the_database(app, db, users, field):
    """Form bytes that are no UTF-8 (a surrogate written as CESU bytes) are kept as their
    percent-escapes by Werkzeug: never a 500, and nothing unencodable is stored."""
    app.config["WTF_CSRF_ENABLED"] = True
    ui = app.test_client()
    login(ui, "clerk1")
    data = application_form(ui, **{field: SURROGATE})
    res = ui.post(
        "/window/new", data=_form_bytes(data), content_type="application/x-www-form-urlencoded"
    )
    assert res.status_code < 500
    for case in db.session.execute(db.select(Case)).scalars():
        for value in (case.applicant_name, case.address_detail, case.approval_system_code):
            (value or "").encode("utf-8")


def test_form_text_that_is_not_utf8_is_refused_naming_the_field(app, db, users):
    """Multipart form values that are no UTF-8 would be stored as U+FFFD: refused instead."""
    app.config["WTF_CSRF_ENABLED"] = True
    ui = app.test_client()
    login(ui, "clerk1")
    data = application_form(ui)
    boundary = "jdboundary"
    parts = []
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            raw = (
                "\ud800张".encode("utf-8", "surrogatepass")
                if key == "applicant_name"
                else str(item).encode()
            )
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
                + raw
                + b"\r\n"
            )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    before = counts(db)
    res = ui.post(
        "/window/new", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert res.status_code == 400
    assert "applicant_name" in res.get_data(as_text=True)
    assert counts(db) == before


def test_a_lone_surrogate_in_the_desk_form_is_refused(app, db, users, queued):
    app.config["WTF_CSRF_ENABLED"] = True
    ui = app.test_client()
    login(ui, "water1")
    page = ui.get(f"/desk/tickets/{queued}").get_data(as_text=True)
    res = ui.post(
        f"/desk/tickets/{queued}/action",
        data=_form_bytes({"csrf_token": csrf_token(page), "action": "return", "reason": SURROGATE}),
        content_type="application/x-www-form-urlencoded",
    )
    assert res.status_code < 500
    for ticket in db.session.execute(db.select(Ticket)).scalars():
        (ticket.return_reason or "").encode("utf-8")


# --- non-ASCII digits -------------------------------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_identity_rules_take_only_ascii_digits_after_nfkc():
    person = valid_person_id()
    assert identity.normalize_id(person.translate(FULL_WIDTH)) == person
    assert identity.is_valid_resident_id(person.translate(FULL_WIDTH))
    assert not identity.is_valid_resident_id(person.translate(ARABIC_INDIC))
    assert identity.normalize_phone("１３８００００００００") == "13800000000"
    assert identity.is_valid_mobile("１３８００００００００")
    assert not identity.is_valid_mobile("13٩١٢٣٤٥٦٧٨")
    assert not identity.is_valid_uscc("91350100M000100Y43".translate(ARABIC_INDIC))
    assert identity.is_valid_uscc("９１３５０１００Ｍ０００１００Ｙ４３")


def test_full_width_digits_are_stored_normalised(client, db, users):
    body = application_body()
    body["applicant"]["id_number"] = valid_person_id().translate(FULL_WIDTH)
    body["applicant"]["phone"] = "13800000000".translate(FULL_WIDTH)
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 201, res.get_json()
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.applicant_id_number == valid_person_id()
    assert case.applicant_phone == "13800000000"


@pytest.mark.parametrize(
    "key,value",
    [
        ("id_number", valid_person_id().translate(ARABIC_INDIC)),
        ("phone", "13٩١٢٣٤٥٦٧٨"),
        ("phone", "१३८१२३४५६७८"),  # Devanagari
    ],
)
def test_other_unicode_digits_are_refused(client, db, users, key, value):
    body = application_body()
    body["applicant"][key] = value
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 422
    assert f"applicant.{key}" in res.get_json()["error"]["fields"]


@pytest.mark.parametrize(
    "text,whole",
    [
        ("phone １３８１２３４５６７８ end", "１３８１２３４５６７８"),
        ("phone 13٩١٢٣٤٥٦٧٨ end", "13٩١٢٣٤٥٦٧٨"),
        ("phone १३८१२३४५६७८ end", "१३८१२३४५६७८"),
        ("phone 138 1234 5678 end", "1234"),
        ("phone 138-1234-5678 end", "1234"),
        ("phone １３８　１２３４　５６７８ end", "１２３４"),
        ("id 4101 0519 9001 0112 34 end", "0519 9001"),
        ("id ４１０１０５１９９００１０１１２３４ end", "０５１９９００１"),
        ("id 11010519491231002X end", "0519491231"),
        ("code ９１３５０１００Ｍ０００１００Ｙ４３ end", "０１００Ｍ０００１"),
    ],
)
def test_the_log_filter_masks_every_form_of_digits(text, whole):
    masked = redact(text)
    assert whole not in masked, masked
    assert "*" in masked
    assert masked.startswith(text.split()[0]) and masked.endswith("end")


def test_the_log_filter_masks_full_width_numbers_in_records(caplog):
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logging.getLogger("jointdesk.test").info(
            "applicant %s", "１３８１２３４５６７８".translate(FULL_WIDTH)
        )
    assert "１２３４" not in caplog.text


def test_a_logged_traceback_holding_percent_placeholders_is_written_whole(caplog):
    """A database error's text holds the statement ("%(name_1)s"): the record must still be
    written, with its arguments, not dropped as a logging error."""
    caplog.handler.addFilter(RedactingFilter())
    try:
        raise RuntimeError("WHERE name = %(name_1)s::VARCHAR")
    except RuntimeError:
        with caplog.at_level(logging.ERROR):
            logging.getLogger("jointdesk.test").exception("unexpected error on %s %s", "POST", "/x")
    assert "unexpected error on POST /x" in caplog.text
    assert "%(name_1)s::VARCHAR" in caplog.text


# --- 405 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("put", "/api/v1/cases", {"POST"}),
        ("delete", "/api/v1/openapi.json", {"GET", "HEAD"}),
        ("post", "/healthz", {"GET", "HEAD"}),
        ("delete", "/window/new", {"GET", "POST"}),
    ],
)
def test_405_answers_carry_an_allow_header(client, method, path, allowed):
    res = getattr(client, method)(path)
    assert res.status_code == 405
    assert allowed <= {m.strip() for m in res.headers.get("Allow", "").split(",")}
    if path.startswith("/api/") or path == "/healthz":
        assert res.get_json()["error"]["code"] == "method_not_allowed"


def test_a_clerk_finds_a_case_by_phone_typed_in_full_width_digits(app, db, users, submit):
    case = submit()
    app.config["WTF_CSRF_ENABLED"] = True
    ui = app.test_client()
    login(ui, "clerk1")
    page = ui.get("/cases").get_data(as_text=True)
    res = ui.post(
        "/cases",
        data={"csrf_token": csrf_token(page), "q": "13800000000".translate(FULL_WIDTH)},
    )
    assert case["reference"] in res.get_data(as_text=True)


@pytest.mark.parametrize("materials", [None, [], [{"kind": "application_form", "provided": False}]])
def test_a_window_case_lists_the_application_form(client, db, users, materials):
    res = client.post(
        "/api/v1/cases", json=application_body(materials=materials), headers=users["clerk"][1]
    )
    assert res.status_code == 422
    assert {"materials", "materials.0.note"} & set(res.get_json()["error"]["fields"])
    assert counts(db) == (0, 0, 0, 0)


def test_the_quick_log_filter_for_ascii_masks_exactly_as_the_folding_one():
    """Log lines in ASCII (most of them) take a quicker path; on thousands of random lines
    made of digits, capitals, separators and real numbers it masks exactly what the general
    path, which folds every character, masks."""
    import random

    from jointdesk.logging_setup import _redact_ascii, _redact_folding

    rng = random.Random(8)
    pieces = [
        "13812345678", "138 1234 5678", "138-1234-5678", "11010519491231002X",
        "4101 0519 9001 0112 34", "91350100M000100Y43", "0.003512s", "Task[", "]", "..",
        " ", "-", "_", "/", ".", "x", "ABC", "7", "42", "1", "-1",
    ]  # fmt: skip
    alphabet = "0123456789ABCXYZabc ._/-:[]"
    for _ in range(4000):
        parts = [rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet)]
        parts += [
            rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet)
            for _ in range(rng.randrange(0, 40))
        ]
        line = "".join(parts)
        assert _redact_ascii(line) == _redact_folding(line), line

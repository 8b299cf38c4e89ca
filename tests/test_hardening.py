"""What a review of the disclosure, feedback and supervision pages found, kept fixed: huge ids
and stray query parameters are a 404 or ignored, never a 500; a concurrent edit is a clear
refusal; complainants are protected from the provider they complain about; exported text is
never a spreadsheet formula."""

import re

import pytest
from conftest import sign_in_web
from flask import g
from test_feedback import complaint_form

from jointdesk.models import Complaint
from jointdesk.models.disclosure import DisclosureItem
from jointdesk.supervision.exports import _cell


def _get(client, path):
    g.pop("_login_user", None)  # the tests share one app context
    return client.get(path)


def test_huge_ids_are_unknown_not_a_server_error(app, db, users):
    supervisor = app.test_client()
    sign_in_web(supervisor, users["supervisor"][0])
    assert _get(supervisor, "/supervision/orders/99999999999").status_code == 404
    res = _get(supervisor, "/supervision/orders/new?provider=99999999999")
    assert res.status_code in (200, 404)
    from jointdesk.supervision.orders import OrderRefused, issue

    with pytest.raises(OrderRefused):
        issue(99_999_999_999, "整改", "", None, users["supervisor"][0])


def test_the_queue_ignores_query_parameters_it_does_not_read(app, db, users):
    staff = app.test_client()
    sign_in_web(staff, users["water"][0])
    res = _get(staff, "/desk/?endpoint=x&_external=1&_anchor=zz&status=all")
    assert res.status_code == 200
    live = re.search(r'data-live="([^"]+)"', res.get_data(as_text=True)).group(1)
    assert live == "/desk/stamp?status=all"


def test_a_concurrent_disclosure_edit_is_refused_with_a_message(db, users):
    from jointdesk.disclosure import services as ds

    item = db.session.execute(
        db.select(DisclosureItem).where(DisclosureItem.kind == "overview").limit(1)
    ).scalar_one()
    seen = item.version
    with db.engine.begin() as other:  # a colleague saved it a moment ago, in another process
        other.execute(
            db.text("UPDATE disclosure_items SET version = version + 1, body = 'x' WHERE id = :i"),
            {"i": item.id},
        )
    with pytest.raises(ds.Stale):
        ds.edit_item(item, "企业概况", "新的简介", users["water"][0], seen)
    db.session.rollback()
    assert db.session.get(DisclosureItem, item.id).body == "x"  # theirs stands


def test_complaint_subjects_are_masked_and_the_provider_does_not_learn_who_complained(
    app, db, users
):
    app.config["WTF_CSRF_ENABLED"] = True
    ui = app.test_client()
    res = complaint_form(ui, subject="我的电话13912345678无人回复", name="王五")
    assert res.status_code == 200, res.get_data(as_text=True)[:1500]
    complaint = db.session.execute(db.select(Complaint)).scalar_one()
    assert "13912345678" not in complaint.subject and "139****5678" in complaint.subject
    gas = app.test_client()
    sign_in_web(gas, users["gas"][0])
    page = _get(gas, f"/complaints/{complaint.id}").get_data(as_text=True)
    assert "王五" not in page and "王*" in page
    supervisor = app.test_client()
    sign_in_web(supervisor, users["supervisor"][0])
    assert "王五" in _get(supervisor, f"/complaints/{complaint.id}").get_data(as_text=True)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "|x", " =1"])
def test_exported_text_is_never_a_formula(text):
    assert _cell(text) == "'" + text


def test_plain_exported_text_and_numbers_stay_as_they_are():
    assert _cell("郑州自来水") == "郑州自来水"
    assert _cell(12) == 12
    assert _cell(None) == ""

"""A number the applicant can call: the customer representative's work phone (administrators
keep it on the user's contact page, or `jointdesk user create --phone`), else the provider's
service phone; shown on the status page and in the public API."""

import re

import pytest
from conftest import act, sign_in_web
from test_schema_and_cli import jointdesk

from jointdesk.models import Event, User
from jointdesk.policy.identity import clean_work_phone


@pytest.mark.parametrize(
    "typed,stored",
    [
        ("0371-6743 6801", "037167436801"),
        ("95598", "95598"),
        ("+86 371 6743 6801", "+8637167436801"),
        ("  ", None),
        ("", None),
    ],
)
def test_work_phones_are_stored_without_separators(typed, stored):
    assert clean_work_phone(typed) == stored


@pytest.mark.parametrize("typed", ["12", "call me", "0371-6743-68O1", "1" * 21, "++86123"])
def test_what_is_not_a_phone_is_refused(typed):
    with pytest.raises(ValueError):
        clean_work_phone(typed)


def test_the_applicant_sees_the_representatives_phone_else_the_providers(
    client, db, users, submit, deliver_all
):
    case = submit(services=["water"])
    deliver_all()
    ticket_id = case["tickets"][0]["id"]
    assert act(client, users["water"][1], ticket_id, action="accept").status_code == 200
    lookup = f"/api/v1/public/cases/{case['reference']}?code={case['query_code']}"
    rep = client.get(lookup).get_json()["tickets"][0]["representative"]
    assert rep["phone"] == "0371-67436789"  # no work phone yet: the provider's service phone
    water1 = db.session.get(User, users["water"][0].id)
    water1.phone = "037167436801"
    db.session.commit()
    rep = client.get(lookup).get_json()["tickets"][0]["representative"]
    assert rep == {"name": "water1", "phone": "037167436801"}


def test_an_administrator_keeps_a_persons_contact_details(app, db, users):
    from flask import g

    assert app.config.get("WTF_CSRF_ENABLED", True)  # CSRF on, as in production
    admin = app.test_client()
    sign_in_web(admin, users["admin"][0])
    g.pop("_login_user", None)
    target = users["water"][0]
    page = admin.get(f"/admin/users/{target.id}/contact").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    g.pop("_login_user", None)
    res = admin.post(
        f"/admin/users/{target.id}/contact",
        data={"csrf_token": token, "display_name": "供水 张伟", "phone": "电话"},
    )
    assert res.status_code == 422
    assert "请输入电话号码" in res.get_data(as_text=True)
    assert db.session.get(User, target.id).display_name == ""  # nothing half-saved
    g.pop("_login_user", None)
    res = admin.post(
        f"/admin/users/{target.id}/contact",
        data={"csrf_token": token, "display_name": "供水 张伟", "phone": "0371-6743 6801"},
    )
    assert res.status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, target.id)
    assert (saved.display_name, saved.phone) == ("供水 张伟", "037167436801")
    event = db.session.execute(
        db.select(Event).where(Event.action == "user_contact_changed")
    ).scalar_one()
    assert event.actor == "admin1" and event.detail["after"]["phone"] == "037167436801"
    # only administrators
    g.pop("_login_user", None)
    clerk = app.test_client()
    sign_in_web(clerk, users["clerk"][0])
    g.pop("_login_user", None)
    assert clerk.get(f"/admin/users/{target.id}/contact").status_code == 403


def test_user_create_takes_a_work_phone(db):
    res = jointdesk(
        "user",
        "create",
        "--username",
        "heat9",
        "--role",
        "staff",
        "--provider",
        "zz-heat",
        "--phone",
        "0371 9618 6031",
        "--password-stdin",
        stdin="a-long-enough-password\n",
    )
    assert res.returncode == 0, res.stderr
    db.session.expire_all()
    user = db.session.execute(db.select(User).where(User.username == "heat9")).scalar_one()
    assert user.phone == "037196186031"
    res = jointdesk(
        "user",
        "create",
        "--username",
        "heat10",
        "--role",
        "staff",
        "--provider",
        "zz-heat",
        "--phone",
        "ask at the desk",
        "--password-stdin",
        stdin="a-long-enough-password\n",
    )
    assert res.returncode != 0 and "--phone" in res.stderr

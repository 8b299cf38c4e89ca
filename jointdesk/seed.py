"""Reference data for ``jointdesk init`` and demo data for ``jointdesk demo``.

Both are safe to run again and never overwrite what an administrator changed.
"""

from __future__ import annotations

import csv
from importlib import resources

from jointdesk import audit
from jointdesk.auth import hash_password
from jointdesk.extensions import db
from jointdesk.models import District, Meta, Provider, Route, Service, User
from jointdesk.models.types import utcnow

SERVICES = [
    ("water", "供水", 1),
    ("electricity", "供电", 2),
    ("gas", "供气", 3),
    ("heat", "供热", 4),
]

# The best-known companies of the main city. Which company serves which county is not in the
# reference data, so the default routing sends every district to these four; administrators
# edit the routing table (Admin → Routing) to match reality.
DEFAULT_PROVIDERS = [
    ("zz-water", "郑州自来水投资控股有限公司", "0371-67436789", "water"),
    ("zz-power", "国网河南省电力公司郑州供电公司", "95598", "electricity"),
    ("zz-gas", "郑州华润燃气股份有限公司", "0371-96777", "gas"),
    ("zz-heat", "郑州热力集团有限公司", "0371-96186", "heat"),
]


def _meta_get(key: str) -> str | None:
    row = db.session.get(Meta, key)
    return row.value if row else None


def _meta_set(key: str, value: str) -> None:
    row = db.session.get(Meta, key)
    if row is None:
        db.session.add(Meta(key=key, value=value))
    else:
        row.value = value


def load_districts() -> list[dict]:
    text = resources.files("jointdesk").joinpath("data/zhengzhou-districts.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_reference_data() -> dict[str, int]:
    """Services, districts, default providers, and routes for districts new to this database."""
    counts = {"services": 0, "districts": 0, "providers": 0, "routes": 0, "disclosure_items": 0}
    for code, name, order in SERVICES:
        if db.session.get(Service, code) is None:
            db.session.add(Service(code=code, name=name, sort_order=order))
            counts["services"] += 1
    providers: dict[str, Provider] = {}
    for code, name, phone, service in DEFAULT_PROVIDERS:
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == code)
        ).scalar_one_or_none()
        if provider is None:
            provider = Provider(code=code, name=name, phone=phone)
            db.session.add(provider)
            counts["providers"] += 1
        providers[service] = provider
    db.session.flush()
    for order, row in enumerate(load_districts()):
        existing = db.session.execute(
            db.select(District).where(District.name == row["name"])
        ).scalar_one_or_none()
        if existing is not None:
            continue
        district = District(
            division_code=row["code"] or None,
            name=row["name"],
            kind=row["kind"].split(" (")[0].strip(),  # "functional zone (…)" → "functional zone"
            sort_order=order,
        )
        db.session.add(district)
        db.session.flush()
        counts["districts"] += 1
        for service, provider in providers.items():
            db.session.add(
                Route(service_code=service, district_id=district.id, provider_id=provider.id)
            )
            counts["routes"] += 1
    from jointdesk.disclosure.services import ensure_catalog

    # every provider's mandatory disclosure catalog, empty and unpublished where missing
    counts["disclosure_items"] = ensure_catalog()
    _meta_set("reference_loaded_at", utcnow().isoformat())
    db.session.commit()
    return counts


DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105  (demo data, printed by `jointdesk demo`)
DEMO_USERS = [
    ("clerk", "clerk", None, "窗口 王敏"),
    ("supervisor", "supervisor", None, "城管局 李强"),
    ("admin", "admin", None, "系统管理员"),
    ("water", "staff", "zz-water", "供水 张伟"),
    ("power", "staff", "zz-power", "供电 刘洋"),
    ("gas", "staff", "zz-gas", "供气 陈静"),
    ("heat", "staff", "zz-heat", "供热 赵磊"),
]
# the demo representatives' work phones (invented numbers on the providers' exchanges)
DEMO_PHONES = {
    "water": "0371-67436801",
    "power": "0371-95598001",
    "gas": "0371-96777021",
    "heat": "0371-96186031",
}
DEMO_USERS += [
    ("approval-system", "integration", None, "工建系统接口"),
]


def create_user(
    username: str,
    role: str,
    password: str,
    provider_code: str | None = None,
    display_name: str = "",
    phone: str | None = None,
) -> User:
    provider_id = None
    if provider_code:
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == provider_code)
        ).scalar_one_or_none()
        if provider is None:
            raise ValueError(f"no provider with code {provider_code!r}")
        provider_id = provider.id
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password),
        provider_id=provider_id,
        display_name=display_name,
        phone=phone,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user_created", detail={"username": username, "role": role})
    return user


def load_demo_data() -> list[tuple[str, str, str]]:
    """Demo users (one per role, and one staff member per provider) and a few cases."""
    created = []
    for username, role, provider, display in DEMO_USERS:
        exists = db.session.execute(
            db.select(User).where(User.username == username)
        ).scalar_one_or_none()
        password = f"{username}{DEMO_PASSWORD_SUFFIX}"
        if exists is None:
            create_user(username, role, password, provider, display, DEMO_PHONES.get(username))
            created.append((username, role, password))
        else:
            created.append((username, role, "(exists; password unchanged)"))
    db.session.commit()
    _demo_prices()
    if _meta_get("demo_cases_loaded") is None:
        _demo_cases()
        _meta_set("demo_cases_loaded", utcnow().isoformat())
        db.session.commit()
    from jointdesk.disclosure.demo import load_demo_disclosure

    load_demo_disclosure()  # a published catalog for the four providers, three outage notices
    _demo_feedback()
    return created


# believable, and labelled as the demo's own: `jointdesk init` publishes no prices at all
DEMO_PRICES = {
    "zz-water": ("300.00", "180.00"),
    "zz-power": ("0.00", "260.00"),
    "zz-gas": ("2600.00", "220.00"),
    "zz-heat": ("0.00", "350.00"),
}
DEMO_PRICE_BASIS = "演示数据：示例收费标准，并非该单位公示的真实价格"


def _demo_prices() -> None:
    """Demo prices for the default providers that have none published yet."""
    from jointdesk.routing.prices import parse_prices, set_prices

    for code, (fee, per_metre) in DEMO_PRICES.items():
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == code)
        ).scalar_one_or_none()
        if provider is None or provider.connection_fee is not None:
            continue
        values = parse_prices(
            {"connection_fee": fee, "price_per_metre": per_metre, "price_basis": DEMO_PRICE_BASIS}
        )
        set_prices(provider, values, "demo")


def demo_resident_id(region: str, birth: str, seq: int) -> str:
    from jointdesk.policy.identity import resident_id_check_char

    first17 = f"{region}{birth}{seq:03d}"
    return first17 + resident_id_check_char(first17)


def _demo_cases() -> None:
    from jointdesk.desk.services import perform_action
    from jointdesk.models import Ticket
    from jointdesk.routing import outbox
    from jointdesk.windows.services import submit_application
    from jointdesk.windows.validation import validate_application

    clerk = db.session.execute(db.select(User).where(User.username == "clerk")).scalar_one()
    staff = {
        u.provider.code: u
        for u in db.session.execute(db.select(User).where(User.role == "staff")).scalars()
    }
    samples = [
        (
            "张建国",
            "410105",
            "19780312",
            "金水区",
            "花园路 12 号院 3 号楼",
            ["water", "electricity", "gas", "heat"],
            True,
            120,
        ),
        ("李秀英", "410102", "19850721", "中原区", "建设路 88 号", ["water", "gas"], False, None),
        ("王海涛", "410184", "19900105", "新郑市", "中华北路 6 号", ["electricity"], True, 160),
        (
            "赵丽",
            "410103",
            "19951230",
            "二七区",
            "大学路 45 号",
            ["water", "electricity", "heat"],
            False,
            None,
        ),
    ]
    plans = [["accept"], ["accept", "connect"], [], ["accept", "suspend"]]
    for (name, region, birth, district, detail, services, external, length), plan in zip(
        samples, plans, strict=True
    ):
        data = {
            "channel": "window",
            "applicant": {
                "kind": "person",
                "name": name,
                "id_number": demo_resident_id(region, birth, 17),
                "phone": "139" + birth[-4:] + "0371",
            },
            "address": {"district": district, "detail": detail},
            "services": services,
            "project": {"external_works": external, "pipeline_length_m": length},
            "materials": [{"kind": "application_form", "provided": True}],
        }
        case, _code = submit_application(validate_application(data), clerk)
        for msg_id in _open_outbox_ids(case.id):
            outbox.deliver(msg_id)  # the same idempotent hand-over the worker runs
        for ticket in db.session.execute(
            db.select(Ticket).where(Ticket.case_id == case.id)
        ).scalars():
            for action in plan:
                suspending = action == "suspend"
                perform_action(
                    ticket,
                    action,
                    staff[ticket.provider.code],
                    reason="补充房产信息" if suspending else None,
                    reason_code="applicant_waiting" if suspending else None,
                )


def _open_outbox_ids(case_id: int) -> list[int]:
    from jointdesk.models import OutboxMessage, Ticket

    return list(
        db.session.execute(
            db.select(OutboxMessage.id)
            .join(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(Ticket.case_id == case_id, OutboxMessage.done_at.is_(None))
        ).scalars()
    )


def _demo_feedback() -> None:
    """Ratings (one 差评, followed up) on the demo's connected case and one complaint; once."""
    from jointdesk.feedback import services as feedback
    from jointdesk.models import Case

    if _meta_get("demo_feedback_loaded") is not None:
        return
    case = db.session.execute(
        db.select(Case).where(Case.applicant_name == "李秀英").order_by(Case.id).limit(1)
    ).scalar_one_or_none()
    if case is not None and all(t.status == "connected" for t in case.tickets):
        feedback.submit_rating(case, "water", 5, "上门及时，一次办好。", "online")
        feedback.submit_rating(case, "gas", 2, "通气后等了两天才来验表。", "online")
    gas = db.session.execute(db.select(Provider).where(Provider.code == "zz-gas")).scalar_one()
    data = feedback.ComplaintData(
        "周敏",
        "13700000371",
        gas,
        None,
        "燃气报装咨询电话无人接听",
        "连续两天工作时间拨打客服电话都无人接听。",
    )
    feedback.create_complaint(data, "online", None)
    _meta_set("demo_feedback_loaded", utcnow().isoformat())
    db.session.commit()

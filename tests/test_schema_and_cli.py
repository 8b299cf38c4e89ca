"""Migrations agree with the models; `jointdesk` commands behave as the README says."""

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from jointdesk.models import District, Provider, Route, User

ROOT = Path(__file__).resolve().parent.parent


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_init_covers_every_district_for_every_service(db):
    districts = db.session.execute(db.select(District)).scalars().all()
    assert len(districts) == 16
    assert {"金水区", "中原区", "新郑市", "巩义市", "郑东新区"} <= {d.name for d in districts}
    assert db.session.execute(db.select(db.func.count(Route.id))).scalar_one() == 16 * 4


def jointdesk(*args, stdin: str | None = None):
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jointdesk.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_again_keeps_the_administrators_edits(db):
    provider = Provider(code="gongyi-water", name="巩义市供水公司")
    db.session.add(provider)
    db.session.flush()
    gongyi = db.session.execute(db.select(District).where(District.name == "巩义市")).scalar_one()
    route = db.session.execute(
        db.select(Route).where(Route.district_id == gongyi.id, Route.service_code == "water")
    ).scalar_one()
    route.provider_id = provider.id
    db.session.execute(
        db.delete(Route).where(Route.district_id == gongyi.id, Route.service_code == "heat")
    )
    default = db.session.execute(db.select(Provider).where(Provider.code == "zz-gas")).scalar_one()
    default.name = "华润燃气（改名）"
    db.session.commit()
    result = jointdesk("init")
    assert result.returncode == 0, result.stderr
    assert "added 0 services, 0 districts, 0 providers, 0 routes" in result.stdout
    db.session.rollback()
    assert db.session.get(Route, route.id).provider_id == provider.id
    assert (
        db.session.execute(
            db.select(Route).where(Route.district_id == gongyi.id, Route.service_code == "heat")
        ).first()
        is None
    )
    assert db.session.get(Provider, default.id).name == "华润燃气（改名）"


def test_user_and_token_commands(db):
    made = jointdesk(
        "user",
        "create",
        "--username",
        "zhao",
        "--role",
        "staff",
        "--provider",
        "zz-heat",
        "--password-stdin",
        stdin="a-long-enough-password\n",
    )
    assert made.returncode == 0, made.stderr
    user = db.session.execute(db.select(User).where(User.username == "zhao")).scalar_one()
    assert user.password_hash.startswith("$argon2id$")
    assert "a-long-enough-password" not in user.password_hash
    assert (
        jointdesk(
            "user",
            "create",
            "--username",
            "x",
            "--role",
            "staff",
            "--password-stdin",
            stdin="a-long-enough-password\n",
        ).returncode
        != 0
    )  # staff need a provider
    assert (
        jointdesk(
            "user",
            "create",
            "--username",
            "y",
            "--role",
            "clerk",
            "--password-stdin",
            stdin="short\n",
        ).returncode
        != 0
    )
    token = jointdesk("token", "create", "--username", "zhao")
    assert token.returncode == 0 and token.stdout.strip().startswith("jd_")
    assert jointdesk("token", "create", "--username", "nobody").returncode != 0

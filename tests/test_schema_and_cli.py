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


def test_a_plain_pip_build_carries_the_chinese_catalog(tmp_path):
    """A deployment installs with pip alone, from a tree where no `make` compiled the catalog:
    the built wheel must still carry zh_CN (the .mo files are not in git)."""
    import shutil
    import zipfile

    from babel.messages.mofile import read_mo

    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("*.mo", "__pycache__", "*.egg-info")
    for name in ("jointdesk", "worker"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "config.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    assert not list(src.rglob("*.mo"))
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("jointdesk-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read("jointdesk/translations/zh_Hans_CN/LC_MESSAGES/messages.mo")
    (tmp_path / "messages.mo").write_bytes(data)
    with (tmp_path / "messages.mo").open("rb") as fh:
        catalog = read_mo(fh)
    assert catalog.get("Sign in") is not None
    assert catalog.get("Sign in").string == "登录"


def test_run_tells_loopback_from_addresses_others_can_reach():
    """`jointdesk run --host 0.0.0.0` in development warns that the demo passwords are public;
    only loopback addresses are quiet."""
    from jointdesk.cli import _loopback

    for host in ("127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"):
        assert _loopback(host), host
    for host in ("0.0.0.0", "::", "192.0.2.10", "jointdesk.example"):
        assert not _loopback(host), host

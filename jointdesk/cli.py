"""The ``jointdesk`` command: init, demo, run, worker, beat, user, token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

CELERY_APP = "worker.celery_app:celery"


def _app():
    from jointdesk import create_app

    return create_app()


def upgrade_database(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@click.group()
def main() -> None:
    """JointDesk: one window for water, electricity, gas and heat connections."""


@main.command()
def init() -> None:
    """Create or upgrade the database and load the reference data (safe to run again)."""
    from jointdesk.seed import load_reference_data

    app = _app()
    upgrade_database(app)
    with app.app_context():
        counts = load_reference_data()
    click.echo(
        "database ready; added {services} services, {districts} districts, "
        "{providers} providers, {routes} routes".format(**counts)
    )


@main.command()
def demo() -> None:
    """``init``, then demo users (passwords printed) and a handful of cases."""
    from jointdesk.seed import load_demo_data, load_reference_data

    app = _app()
    upgrade_database(app)
    with app.app_context():
        load_reference_data()
        users = load_demo_data()
    click.echo("demo users (username / role / password):")
    for username, role, password in users:
        click.echo(f"  {username:<16} {role:<12} {password}")


def _celery_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def _worker_args(queues: str | None, concurrency: int | None, beat: bool) -> list[str]:
    args = ["worker", "--loglevel", "INFO"]
    if queues:
        args += ["-Q", queues]
    else:
        args += ["-Q", "jointdesk"]  # the control queue; every provider queue is added too
    if concurrency:
        args += ["-c", str(concurrency)]
    if beat:
        from config import instance_path

        args += ["-B", "-s", str(instance_path() / "celerybeat-schedule")]
    return args


@main.command()
@click.option("--queues", help="Comma-separated queues (provider.CODE); default: all of them.")
@click.option("--concurrency", "-c", type=int, help="Worker processes (default: one per core).")
def worker(queues: str | None, concurrency: int | None) -> None:
    """One Celery worker; with no --queues it serves every provider queue, new ones included."""
    os.execvp(sys.executable, _celery_cmd(*_worker_args(queues, concurrency, beat=False)))


@main.command()
def beat() -> None:
    """The periodic scheduler (outbox relay safety net); run one per deployment."""
    from config import instance_path

    os.execvp(
        sys.executable,
        _celery_cmd(
            "beat", "--loglevel", "INFO", "-s", str(instance_path() / "celerybeat-schedule")
        ),
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """The whole system on one machine: web app, worker for every queue, and the scheduler."""
    from waitress import serve

    app = _app()
    upgrade_database(app)
    worker_proc = subprocess.Popen(_celery_cmd(*_worker_args(None, 2, beat=True)))  # noqa: S603
    click.echo(f"JointDesk on http://{host}:{port}/  (worker pid {worker_proc.pid}; Ctrl-C stops)")
    try:
        serve(app, host=host, port=port, threads=8)
    except KeyboardInterrupt:
        pass
    finally:
        worker_proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while worker_proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if worker_proc.poll() is None:
            worker_proc.kill()


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.option("--username", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["clerk", "staff", "supervisor", "admin", "integration"]),
)
@click.option("--provider", "provider_code", help="Provider code; required for staff.")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(
    username: str, role: str, provider_code: str | None, display_name: str, password_stdin: bool
) -> None:
    """Create a user; staff belong to one provider."""
    from jointdesk.auth import MIN_PASSWORD_LENGTH
    from jointdesk.extensions import db
    from jointdesk.models import User
    from jointdesk.seed import create_user

    if role == "staff" and not provider_code:
        raise click.UsageError("staff need --provider CODE")
    if role != "staff" and provider_code:
        raise click.UsageError("only staff belong to a provider")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.UsageError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    app = _app()
    with app.app_context():
        if db.session.execute(db.select(User).where(User.username == username)).first():
            raise click.UsageError(f"user {username!r} exists")
        try:
            create_user(username, role, password, provider_code, display_name)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        db.session.commit()
    click.echo(f"created {role} {username}")


@main.group()
def token() -> None:
    """Manage API bearer tokens."""


@token.command("create")
@click.option("--username", required=True)
def token_create(username: str) -> None:
    """Print a new API bearer token for that user."""
    from jointdesk.auth import issue_token
    from jointdesk.extensions import db
    from jointdesk.models import User

    app = _app()
    with app.app_context():
        found = db.session.execute(
            db.select(User).where(User.username == username)
        ).scalar_one_or_none()
        if found is None:
            raise click.UsageError(f"no user {username!r}")
        value = issue_token(found)
        db.session.commit()
    click.echo(value)


if __name__ == "__main__":  # pragma: no cover
    main()

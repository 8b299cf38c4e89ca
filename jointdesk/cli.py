"""The ``jointdesk`` command: init, demo, run, worker, beat, user, token, provider, calendar."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import click

CELERY_APP = "worker.celery_app:celery"
HTTP_QUEUE = "jointdesk.http"  # integrations.delivery.HTTP_QUEUE, without importing the app


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
        "{providers} providers, {routes} routes, {disclosure_items} disclosure items".format(
            **counts
        )
    )


@main.command()
def demo() -> None:
    """``init``, then demo users (passwords printed) and a handful of cases."""
    from jointdesk.seed import load_demo_data, load_reference_data

    app = _app()
    if not app.config["JOINTDESK_DEVELOPMENT"]:
        # the demo accounts' passwords are published in the README
        raise click.ClickException(
            "refusing to create demo accounts outside development: their passwords are "
            "public. Use `jointdesk init` and `jointdesk user create` (or set "
            "JOINTDESK_DEVELOPMENT=1 on a machine nobody else can reach)."
        )
    upgrade_database(app)
    with app.app_context():
        load_reference_data()
        users = load_demo_data()
    click.echo("demo users (username / role / password):")
    for username, role, password in users:
        click.echo(f"  {username:<16} {role:<12} {password}")


def _celery_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def _worker_args(queues: str | None, concurrency: int | None) -> list[str]:
    args = ["worker", "--loglevel", "INFO"]
    if queues:
        args += ["-Q", queues]
    else:
        args += ["-Q", "jointdesk"]  # the control queue; every provider queue is added too
    if concurrency:
        args += ["-c", str(concurrency)]
    return args


@main.command()
@click.option("--queues", help="Comma-separated queues (provider.CODE); default: all of them.")
@click.option("--concurrency", "-c", type=int, help="Worker processes (default: one per core).")
def worker(queues: str | None, concurrency: int | None) -> None:
    """One Celery worker; with no --queues it serves every provider queue, new ones included."""
    os.execvp(sys.executable, _celery_cmd(*_worker_args(queues, concurrency)))


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


# Starts a child so that it gets SIGTERM if `jointdesk run` dies without cleaning up (Linux
# PR_SET_PDEATHSIG, kept across exec), then becomes the real command (same pid).
_CHILD_WRAPPER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except OSError:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


class Supervised:
    """One process that `jointdesk run` keeps running: restarted with backoff when it dies."""

    def __init__(self, name: str, args: list[str], env: dict | None = None) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.deaths: list[float] = []
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _CHILD_WRAPPER, str(os.getpid()), *self.args],
            env={**os.environ, **self.env} if self.env else None,
            start_new_session=True,  # its own group: Ctrl-C reaches `run`, which stops it
        )
        _say(f"started the {self.name} (pid {self.proc.pid})")

    def terminate(self) -> None:
        """SIGTERM: a warm shutdown (a worker finishes the tasks it is running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Waits for it until ``deadline``, then SIGKILL to its whole group."""
        if self.proc is None:
            return
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the pool processes too
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def _say(message: str) -> None:
    click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} jointdesk run: {message}", err=True)


class RunStopped(Exception):
    """`jointdesk run` gives up: a process keeps dying, or the web server stopped."""


def supervise(app, children: list[Supervised], web_alive, poll: float = 0.5) -> None:
    """Keeps ``children`` running until interrupted; raises RunStopped when one keeps dying."""
    from jointdesk import heartbeat

    limit = app.config["JOINTDESK_RUN_RESTART_LIMIT"]
    window = app.config["JOINTDESK_RUN_RESTART_WINDOW"]
    while True:
        time.sleep(poll)
        if not web_alive():
            raise RunStopped("the web server stopped")
        now = time.monotonic()
        for child in children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.start()
                continue
            code = child.proc.poll()
            if code is None:
                continue
            how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)  # no orphaned pool process
            try:
                with app.app_context():
                    heartbeat.mark_dead(child.proc.pid)  # its deliveries are redone at once
            except Exception as exc:  # the database is away: the heartbeat goes stale anyway
                _say(f"could not record that the {child.name} died: {exc}")
            child.deaths = [t for t in child.deaths if now - t < window] + [now]
            if len(child.deaths) >= limit:
                raise RunStopped(
                    f"the {child.name} (pid {child.proc.pid}) {how}; it died "
                    f"{len(child.deaths)} times within {window:.0f} s, so JointDesk stops "
                    f"instead of running without it. Read its messages above, fix the cause "
                    f"(database, broker folder, disk space, permissions), then start again"
                )
            delay = min(2 ** (len(child.deaths) - 1), 30)
            child.restart_at = now + delay
            _say(
                f"the {child.name} (pid {child.proc.pid}) {how}; restarting it in {delay} s "
                f"({len(child.deaths)} of {limit} deaths allowed within {window:.0f} s)"
            )


def _loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """The whole system on one machine: web app, a worker for every queue and the scheduler,
    each restarted if it dies; stops with an error if one keeps dying."""
    import threading

    from waitress import create_server

    from config import instance_path

    app = _app()
    upgrade_database(app)
    if app.config["JOINTDESK_DEVELOPMENT"] and not _loopback(host):
        click.echo(
            f"WARNING: development mode (no JOINTDESK_SECRET_KEY) listening on {host}: the demo "
            "accounts' passwords are printed by `jointdesk demo` and published in the README. "
            "Set JOINTDESK_SECRET_KEY (and remove the demo users) before others can reach it.",
            err=True,
        )
    server = create_server(app, host=host, port=port, threads=8)
    # our heartbeats live in the database: celery's own broker heartbeats, gossip and mingle
    # would only leave files for dead workers in the embedded broker's folder
    quiet = ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    schedule = str(instance_path() / "celerybeat-schedule")
    # signed HTTP deliveries (providers' systems, callbacks, SMS) have their own worker, so a
    # provider system that does not answer never holds up the desk queues
    sender_args = _worker_args(HTTP_QUEUE, 2) + ["-n", "sender@%h"]
    children = [
        Supervised(
            "worker",
            _celery_cmd(*_worker_args(None, 2), *quiet)[1:],
            env={"JOINTDESK_WORKER_SKIP_HTTP_QUEUE": "1"},
        ),
        Supervised("HTTP sender", _celery_cmd(*sender_args, *quiet)[1:]),
        Supervised("scheduler", _celery_cmd("beat", "--loglevel", "INFO", "-s", schedule)[1:]),
    ]

    def _terminate(_signum, _frame):
        raise KeyboardInterrupt  # SIGTERM (a service manager, `kill`) stops it like Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)  # even where a shell started us ignoring SIGINT
    failure = None
    try:
        for child in children:
            child.start()
        web = threading.Thread(target=server.run, name="web", daemon=True)
        web.start()
        click.echo(f"JointDesk on http://{host}:{port}/  (Ctrl-C stops)")
        supervise(app, children, web.is_alive)
    except KeyboardInterrupt:
        _say("stopping")
    except RunStopped as exc:
        failure = str(exc)
        _say(f"FATAL: {failure}")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            child.terminate()
        deadline = time.monotonic() + 15
        for child in children:
            child.reap(deadline)
        with contextlib.suppress(Exception):
            server.close()
    if failure:
        sys.exit(1)


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
@click.option(
    "--phone", default="", help="A work phone applicants may call (customer representatives)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(
    username: str,
    role: str,
    provider_code: str | None,
    display_name: str,
    phone: str,
    password_stdin: bool,
) -> None:
    """Create a user; staff belong to one provider."""
    from jointdesk.policy.identity import clean_work_phone

    try:
        work_phone = clean_work_phone(phone)
    except ValueError:
        raise click.UsageError(f"--phone: not a phone number: {phone!r}") from None
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
            create_user(username, role, password, provider_code, display_name, work_phone)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        db.session.commit()
    click.echo(f"created {role} {username}")


def _read_password(from_stdin: bool) -> str:
    from jointdesk.auth import MIN_PASSWORD_LENGTH

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.UsageError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _find_user(username: str):
    from jointdesk.extensions import db
    from jointdesk.models import User

    found = db.session.execute(
        db.select(User).where(User.username == username)
    ).scalar_one_or_none()
    if found is None:
        raise click.UsageError(f"no user {username!r}")
    return found


@user.command("set-password")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_set_password(username: str, password_stdin: bool) -> None:
    """Give a user a new password; every session of theirs ends."""
    from jointdesk.auth import set_password
    from jointdesk.extensions import db

    password = _read_password(password_stdin)
    with _app().app_context():
        set_password(_find_user(username), password, "cli")
        db.session.commit()
    click.echo(f"password of {username} changed; their sessions are ended")


@user.command("sign-out")
@click.option("--username", required=True)
def user_sign_out(username: str) -> None:
    """Sign a user out everywhere: every web session of theirs ends now."""
    from jointdesk.auth import revoke_sessions
    from jointdesk.extensions import db

    with _app().app_context():
        n = revoke_sessions(_find_user(username), "cli", "administrator")
        db.session.commit()
    click.echo(f"{username} signed out everywhere ({n} session(s) ended)")


@user.command("unlock")
@click.option("--username", required=True)
def user_unlock(username: str) -> None:
    """Lift the lock that repeated failed sign-ins put on a username."""
    from jointdesk.auth import unlock_login

    with _app().app_context():
        was_locked = unlock_login(username, "cli")
    click.echo(f"{username} unlocked" if was_locked else f"{username} was not locked")


def _set_active(username: str, active: bool) -> None:
    from jointdesk.auth import set_active
    from jointdesk.extensions import db

    with _app().app_context():
        set_active(_find_user(username), active, "cli")
        db.session.commit()
    click.echo(f"{username} {'activated' if active else 'deactivated'}")


@user.command("deactivate")
@click.option("--username", required=True)
def user_deactivate(username: str) -> None:
    """Deactivate an account: no sign-in, no API token; its sessions end."""
    _set_active(username, False)


@user.command("activate")
@click.option("--username", required=True)
def user_activate(username: str) -> None:
    """Activate a deactivated account again."""
    _set_active(username, True)


@user.command("default-representative")
@click.option("--username", required=True)
def user_default_representative(username: str) -> None:
    """Make a staff member their provider's default customer representative: tickets nobody
    accepts (pushed by the approval system) are theirs on arrival. One per provider."""
    from jointdesk.desk.services import ActionRefused, set_default_representative
    from jointdesk.extensions import db

    with _app().app_context():
        try:
            set_default_representative(_find_user(username))
        except ActionRefused as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
    click.echo(f"{username} is now the default representative")


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


@main.group()
def provider() -> None:
    """Providers: their published connection prices and charging basis, their channel."""


@provider.command("prices")
@click.argument("code")
@click.option("--connection-fee", help="yuan per connection; empty to unpublish")
@click.option("--per-metre", help="yuan per metre of works outside the building boundary")
@click.option("--basis", help="the charging basis (收费依据), e.g. the price document")
def provider_prices(
    code: str, connection_fee: str | None, per_metre: str | None, basis: str | None
) -> None:
    """Show CODE's published prices, or change the ones given (audited)."""
    from jointdesk.extensions import db
    from jointdesk.models import Provider
    from jointdesk.routing.prices import PriceErrors, parse_prices, set_prices

    with _app().app_context():
        row = db.session.execute(
            db.select(Provider).where(Provider.code == code)
        ).scalar_one_or_none()
        if row is None:
            raise click.BadParameter(f"no provider with code {code!r}", param_hint="CODE")
        given = {
            "connection_fee": connection_fee,
            "price_per_metre": per_metre,
            "price_basis": basis,
        }
        if any(v is not None for v in given.values()):
            current = {
                "connection_fee": row.connection_fee,
                "price_per_metre": row.price_per_metre,
                "price_basis": row.price_basis,
            }
            merged = {k: current[k] if v is None else v for k, v in given.items()}
            try:
                values = parse_prices(merged)
            except PriceErrors as exc:
                options = {"connection_fee": "--connection-fee", "price_per_metre": "--per-metre"}
                raise click.UsageError(
                    "\n".join(f"{options.get(k, '--basis')}: {v}" for k, v in exc.fields.items())
                ) from exc
            changed = set_prices(row, values, "cli")
            click.echo("saved" if changed else "nothing changed")
        prices = row.published_prices
        click.echo(f"{row.code} {row.name}")
        for label, value in (
            ("connection fee", prices.connection_fee),
            ("per metre", prices.price_per_metre),
        ):
            click.echo(f"  {label}: {'not published' if value is None else f'{value:.2f} yuan'}")
        click.echo(f"  charging basis: {prices.basis or 'not published'}")


@provider.command("channel")
@click.argument("code")
@click.argument("channel", type=click.Choice(["desk", "webhook"]))
@click.option("--url", help="webhook: the address of the provider's system (http or https)")
@click.option(
    "--secret-stdin",
    is_flag=True,
    help="webhook: read the shared signing secret (at least 16 characters) from standard input",
)
def provider_channel(code: str, channel: str, url: str | None, secret_stdin: bool) -> None:
    """Where CODE's tickets go: its desk here, or its own system (signed POST of each ticket
    to --url). The secret is never printed; without --secret-stdin the one set is kept."""
    from jointdesk.extensions import db
    from jointdesk.models import Provider
    from jointdesk.routing.channels import ChannelErrors, set_channel

    secret = sys.stdin.readline().rstrip("\n") if secret_stdin else None
    with _app().app_context():
        row = db.session.execute(
            db.select(Provider).where(Provider.code == code)
        ).scalar_one_or_none()
        if row is None:
            raise click.BadParameter(f"no provider with code {code!r}", param_hint="CODE")
        try:
            changed = set_channel(row, channel, "cli", url=url, secret=secret)
        except ChannelErrors as exc:
            options = {"url": "--url", "secret": "--secret-stdin", "channel": "CHANNEL"}
            raise click.UsageError(
                "\n".join(f"{options[k]}: {v}" for k, v in exc.fields.items())
            ) from exc
        click.echo("saved" if changed else "nothing changed")
        click.echo(f"{row.code}: channel {row.channel}")
        if row.channel == "webhook":
            click.echo(f"  url: {row.webhook_url}")
        click.echo(f"  secret: {'set' if row.webhook_secret else 'not set'}")


@main.group()
def deliveries() -> None:
    """Signed HTTP deliveries (providers' systems, approval-system callbacks, SMS gateway)."""


@deliveries.command("list")
@click.option("--all", "everything", is_flag=True, help="every open one too, not only dead ones")
def deliveries_list(everything: bool) -> None:
    """Dead deliveries (and with --all, those still being tried), latest first."""
    from jointdesk.extensions import db
    from jointdesk.integrations.delivery import dead_letters
    from jointdesk.models import HttpDelivery

    with _app().app_context():
        rows = dead_letters()
        if everything:
            rows += list(
                db.session.execute(
                    db.select(HttpDelivery)
                    .where(HttpDelivery.dead_at.is_(None), HttpDelivery.delivered_at.is_(None))
                    .order_by(HttpDelivery.id.desc())
                    .limit(200)
                ).scalars()
            )
        if not rows:
            click.echo("no dead deliveries" if not everything else "no open deliveries")
        for d in rows:
            state = "dead" if d.dead_at else "retrying"
            when = (d.dead_at or d.last_attempt_at or d.created_at).isoformat(timespec="seconds")
            click.echo(
                f"{d.id}\t{state}\t{d.kind}\t{d.target}\tattempts {d.attempts}\t{when}\t"
                f"{d.last_error or ''}"
            )


@deliveries.command("redrive")
@click.argument("delivery_id", type=click.IntRange(1, 2**31 - 1))
def deliveries_redrive(delivery_id: int) -> None:
    """Queue a dead delivery again (same body, same idempotency key); audited."""
    from jointdesk.integrations.delivery import NotDead, redrive

    with _app().app_context():
        try:
            row = redrive(delivery_id, "cli")
        except NotDead:
            raise click.ClickException(f"delivery {delivery_id} is not a dead letter") from None
    click.echo(f"delivery {row.id} ({row.kind} to {row.target}) queued again")


@main.group()
def calendar() -> None:
    """The working calendar: due times, a year's schedule, administrator overrides."""


_YEARS = click.IntRange(2000, 2100)  # = policy.clock.FIRST_YEAR, LAST_YEAR (checked by a test)


def _in_years(year: int, value: str) -> None:
    from jointdesk.policy.clock import FIRST_YEAR, LAST_YEAR

    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise click.BadParameter(
            f"{value!r} is outside the years the calendar covers ({FIRST_YEAR}-{LAST_YEAR})"
        )


def _parse_day(value: str):
    from datetime import date

    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2027-01-01") from exc
    _in_years(day.year, value)
    return day


def _start_option(_ctx, _param, value: str):
    from datetime import datetime

    try:
        start = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time like 2026-11-26T14:00+08:00"
        ) from exc
    _in_years(start.year, value)
    return start


def _days_option(_ctx, _param, value: float) -> float:
    from jointdesk.policy.clock import check_days

    try:
        return check_days(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from exc


@calendar.command("due")
@click.option(
    "--start",
    required=True,
    callback=_start_option,
    help="ISO time, e.g. 2026-11-26T14:00+08:00 (local time if no offset)",
)
@click.option(
    "--days",
    type=float,
    required=True,
    callback=_days_option,
    help="working days, 0 to 1000; may be 0.5",
)
def calendar_due(start, days: float) -> None:
    """Print the due time of a clock started at START for DAYS working days."""
    from zoneinfo import ZoneInfo

    from jointdesk.workingtime import working_calendar

    app = _app()
    with app.app_context():
        tz = ZoneInfo(app.config["JOINTDESK_TIMEZONE"])
        if start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        cal = working_calendar()
        due = cal.add(start, days)
        click.echo(due.astimezone(tz).isoformat())
        if cal.provisional_between(start, due):
            click.echo(
                "provisional: the official schedule of a year on the way is not known yet "
                "(counted with weekends and the statutory holidays of 全国年节及纪念日放假办法, "
                "without days in lieu or adjusted weekends); enter it with "
                "`jointdesk calendar set` and `confirm`",
                err=True,
            )


@calendar.command("show")
@click.option("--year", type=_YEARS, help="default: this year")
def calendar_show(year: int | None) -> None:
    """List the year's holidays on weekdays, working weekends and overrides."""
    from datetime import date

    from jointdesk.policy.clock import library_knows
    from jointdesk.workingtime import confirmed_years, office_hours_text, year_listing

    year = year or date.today().year
    app = _app()
    with app.app_context():
        click.echo(f"office hours: {office_hours_text()} ({app.config['JOINTDESK_TIMEZONE']})")
        if library_knows(date(year, 1, 1)):
            click.echo(f"{year}: official schedule from the chinesecalendar library")
        elif year in confirmed_years():
            click.echo(f"{year}: schedule entered and confirmed by an administrator")
        else:
            click.echo(
                f"{year}: PROVISIONAL - no official schedule yet; weekends and statutory "
                "holidays only (no days in lieu, no adjusted weekends). "
                f"Enter holidays and working weekends, then `jointdesk calendar confirm {year}`."
            )
        for row in year_listing(year):
            kind = "working" if row["working"] else "off"
            name = f" {row['name']}" if row["name"] else ""
            click.echo(f"{row['day']:%Y-%m-%d} {row['day']:%a} {kind:<8} {row['source']}{name}")


@calendar.command("set")
@click.argument("day")
@click.option("--working/--off", required=True, help="a working day, or a day off")
@click.option("--note", default="")
def calendar_set(day: str, working: bool, note: str) -> None:
    """Override one date (e.g. enter next year's official holidays and working weekends)."""
    from jointdesk.workingtime import set_override

    parsed = _parse_day(day)
    with _app().app_context():
        set_override(parsed, working, note, "cli")
    click.echo(f"{parsed} is now {'a working day' if working else 'a day off'}")


@calendar.command("unset")
@click.argument("day")
def calendar_unset(day: str) -> None:
    """Remove the override of one date."""
    from jointdesk.workingtime import remove_override

    parsed = _parse_day(day)
    with _app().app_context():
        removed = remove_override(parsed, "cli")
    click.echo(f"override of {parsed} removed" if removed else f"{parsed} had no override")


@calendar.command("confirm")
@click.argument("year", type=_YEARS)
@click.option("--undo", is_flag=True, help="take the confirmation back")
def calendar_confirm(year: int, undo: bool) -> None:
    """Say that YEAR's official schedule has been entered in full: its due times stop being
    provisional."""
    from jointdesk.workingtime import confirm_year

    with _app().app_context():
        confirm_year(year, "cli", confirmed=not undo)
    click.echo(f"{year} {'un' if undo else ''}confirmed")


@main.group()
def bench() -> None:
    """Data for the scale benchmark (``benchmarks/scale.py``)."""


@bench.command("seed")
@click.option("--cases", "count", type=click.IntRange(1, 50_000_000), required=True)
@click.option("--append", is_flag=True, help="Add to a database that already holds cases.")
@click.option("--batch", type=click.IntRange(100, 1_000_000), default=5000, show_default=True)
@click.option(
    "--jobs", type=click.IntRange(1, 64), help="Processes on PostgreSQL (default: cores)."
)
def bench_seed(count: int, append: bool, batch: int, jobs: int | None) -> None:
    """Fill the configured database quickly with COUNT realistic cases (two years of them,
    every district, provider, channel and ticket status), for benchmarks. Then ANALYZE."""
    from jointdesk.benchdata import SeedRefused, seed
    from jointdesk.seed import load_reference_data

    app = _app()
    upgrade_database(app)
    with app.app_context():
        load_reference_data()
        try:
            counts = seed(count, append=append, batch=batch, jobs=jobs, progress=click.echo)
        except SeedRefused as exc:
            raise click.ClickException(str(exc)) from exc
    seconds = counts.pop("seconds")
    click.echo(", ".join(f"{n:,} {table}" for table, n in counts.items()))
    click.echo(f"seeded in {seconds:,.1f} s ({count / max(seconds, 1e-6):,.0f} cases/s)")


if __name__ == "__main__":  # pragma: no cover
    main()

"""Settings, read from ``JOINTDESK_*`` environment variables (a ``.env`` file is read if present).

Each setting is parsed by a small typed helper and explained in one line; see the README table.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

try:  # python-dotenv is a dependency, but config must never fail to import
    from dotenv import load_dotenv

    load_dotenv(os.environ.get("JOINTDESK_ENV_FILE", ".env"), override=False)
except ImportError:  # pragma: no cover
    pass


# Keys that were once written in this file or in examples: refused everywhere, always.
KNOWN_SECRET_KEYS = frozenset({"dev-only-not-secret"})
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name)


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {value!r}") from exc


def public_base_url() -> str:
    """``JOINTDESK_PUBLIC_BASE_URL`` without its trailing slash; empty when not set."""
    value = (env_str("JOINTDESK_PUBLIC_BASE_URL", "") or "").strip().rstrip("/")
    if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise RuntimeError(
            f"JOINTDESK_PUBLIC_BASE_URL must be an http(s) address like https://host, got {value!r}"
        )
    return value


def instance_path() -> Path:
    """Where the embedded default keeps its SQLite file and broker folders."""
    return Path(env_str("JOINTDESK_INSTANCE_PATH", "instance")).resolve()


def embedded_broker_url() -> str:
    return "filesystem://"


def instance_secret_key(folder: Path) -> str:
    """The instance's own random key, made on first start and kept (mode 0600) in ``folder``.

    Web and worker processes may start together: the key is written whole to a private
    temporary file (created with O_EXCL) and published with ``link``, which fails if another
    process got there first; then everyone reads the one file that won.
    """
    path = folder / SECRET_KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # only this user may read it
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} does not hold a usable key; delete it to make a new one")
    return key


def build_settings() -> dict:
    """The settings of one process, as a flat dict for ``app.config``."""
    inst = instance_path()
    database_url = env_str("JOINTDESK_DATABASE_URL", f"sqlite:///{inst / 'jointdesk.sqlite3'}")
    broker_url = env_str("JOINTDESK_BROKER_URL", embedded_broker_url())
    embedded_broker = broker_url.startswith("filesystem://")
    broker_folder = inst / "broker"
    transport_options: dict = {}
    if embedded_broker:
        transport_options = {
            "data_folder_in": str(broker_folder / "queue"),
            "data_folder_out": str(broker_folder / "queue"),
            "processed_folder": str(broker_folder / "processed"),
            "store_processed": False,
            "control_folder": str(broker_folder / "control"),
            # the filesystem transport polls; keep fan-out well under a second
            "polling_interval": 0.05,
        }
    elif broker_url.startswith("redis"):
        transport_options = {
            "visibility_timeout": int(env_float("JOINTDESK_BROKER_VISIBILITY_TIMEOUT", 600)),
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        }
        prefix = env_str("JOINTDESK_BROKER_KEY_PREFIX")
        if prefix:  # lets several deployments (or test runs) share one Redis
            transport_options["global_keyprefix"] = prefix
    ratelimit_storage = env_str("JOINTDESK_RATELIMIT_STORAGE_URL")
    if ratelimit_storage is None:
        ratelimit_storage = broker_url if broker_url.startswith("redis") else "memory://"
    secret = env_str("JOINTDESK_SECRET_KEY")
    if secret in KNOWN_SECRET_KEYS:
        raise RuntimeError("JOINTDESK_SECRET_KEY is a published example; choose a random one")
    # development (demo accounts, insecure cookies) is the default only where no key is set
    development = env_bool("JOINTDESK_DEVELOPMENT", default=secret is None)
    return {
        # no key set: a random one of this instance, never a well-known one
        "SECRET_KEY": secret or instance_secret_key(inst),
        "JOINTDESK_SECRET_KEY_SET": secret is not None,
        "JOINTDESK_DEVELOPMENT": development,
        "JOINTDESK_INSTANCE_PATH": str(inst),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # hide_parameters: a database error never carries applicants' data into a log
        # no ping on every checkout (a round trip per request): jointdesk/__init__.py pings a
        # pooled connection only after it sat idle this long (0: always, as pool_pre_ping)
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
        "JOINTDESK_DB_PING_AFTER_SECONDS": env_float("JOINTDESK_DB_PING_AFTER_SECONDS", 10),
        "JOINTDESK_BROKER_URL": broker_url,
        "JOINTDESK_EMBEDDED_BROKER": embedded_broker,
        "JOINTDESK_BROKER_FOLDER": str(broker_folder),
        "JOINTDESK_TIMEZONE": env_str("JOINTDESK_TIMEZONE", "Asia/Shanghai"),
        "JOINTDESK_OFFICE_HOURS": env_str("JOINTDESK_OFFICE_HOURS", "09:00-12:00,13:00-17:00"),
        # seconds after which a row a live worker started but has not finished is published again
        "JOINTDESK_OUTBOX_REDELIVER_SECONDS": env_float("JOINTDESK_OUTBOX_REDELIVER_SECONDS", 60),
        # seconds after which a published row no worker has started on is published again
        "JOINTDESK_OUTBOX_UNTAKEN_SECONDS": env_float("JOINTDESK_OUTBOX_UNTAKEN_SECONDS", 15),
        # how often workers and the scheduler write their heartbeat (missing after 3 intervals)
        "JOINTDESK_HEARTBEAT_SECONDS": env_float("JOINTDESK_HEARTBEAT_SECONDS", 5),
        # /healthz answers degraded (503) once an undelivered outbox row is older than this
        "JOINTDESK_HEALTH_STUCK_SECONDS": env_float("JOINTDESK_HEALTH_STUCK_SECONDS", 120),
        # `jointdesk run` gives up when one of its processes dies this often within the window
        "JOINTDESK_RUN_RESTART_LIMIT": int(env_float("JOINTDESK_RUN_RESTART_LIMIT", 5)),
        "JOINTDESK_RUN_RESTART_WINDOW": env_float("JOINTDESK_RUN_RESTART_WINDOW", 300),
        # how often the relay safety net runs (beat) and workers look for new provider queues
        "JOINTDESK_RELAY_INTERVAL": env_float("JOINTDESK_RELAY_INTERVAL", 5),
        "JOINTDESK_QUEUE_REFRESH_SECONDS": env_float("JOINTDESK_QUEUE_REFRESH_SECONDS", 5),
        # signed HTTP deliveries (provider webhooks, approval-system callbacks, SMS gateway):
        # the first retry's wait in seconds, doubling (with jitter) per failed attempt up to
        # the longest wait; the attempts before a dead letter; each attempt's HTTP timeout
        "JOINTDESK_DELIVERY_FIRST_RETRY_SECONDS": env_float(
            "JOINTDESK_DELIVERY_FIRST_RETRY_SECONDS", 8
        ),
        "JOINTDESK_DELIVERY_MAX_WAIT_SECONDS": env_float(
            "JOINTDESK_DELIVERY_MAX_WAIT_SECONDS", 3600
        ),
        "JOINTDESK_DELIVERY_MAX_ATTEMPTS": int(env_float("JOINTDESK_DELIVERY_MAX_ATTEMPTS", 10)),
        "JOINTDESK_DELIVERY_TIMEOUT_SECONDS": env_float("JOINTDESK_DELIVERY_TIMEOUT_SECONDS", 10),
        # the SMS gateway messages to applicants are posted to (none: kept in the outbox)
        "JOINTDESK_SMS_GATEWAY_URL": env_str("JOINTDESK_SMS_GATEWAY_URL"),
        "JOINTDESK_SMS_GATEWAY_SECRET": env_str("JOINTDESK_SMS_GATEWAY_SECRET"),
        # how often the beat job looks for tickets at risk or past their time limit
        "JOINTDESK_SLA_CHECK_SECONDS": env_float("JOINTDESK_SLA_CHECK_SECONDS", 300),
        # reverse proxies in front of the app whose X-Forwarded-For is trusted (0: none)
        "JOINTDESK_PROXY_COUNT": int(env_float("JOINTDESK_PROXY_COUNT", 0)),
        # the public address of this site (https://host), for links in applicants' messages and
        # the QR codes and addresses on receipts; empty: messages give the path alone
        # (/status?reference=...) and receipts the address the clerk's browser used
        "JOINTDESK_PUBLIC_BASE_URL": public_base_url(),
        # printed on the window's receipts: the service hall and the window
        "JOINTDESK_HALL_NAME": env_str("JOINTDESK_HALL_NAME", "郑州市政务服务中心"),
        "JOINTDESK_WINDOW_NAME": env_str("JOINTDESK_WINDOW_NAME", "水电气暖业务联办窗口"),
        "RATELIMIT_ENABLED": env_bool("JOINTDESK_RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": ratelimit_storage,
        "RATELIMIT_HEADERS_ENABLED": True,
        "JOINTDESK_PUBLIC_LOOKUP_LIMIT": env_str(
            "JOINTDESK_PUBLIC_LOOKUP_LIMIT", "10 per minute;100 per hour"
        ),
        # the public information-disclosure portal and its API endpoint, per client
        # a disclosure item not updated for this many days counts as stale (supervision)
        "JOINTDESK_DISCLOSURE_STALE_DAYS": int(env_float("JOINTDESK_DISCLOSURE_STALE_DAYS", 365)),
        "JOINTDESK_DISCLOSURE_LIMIT": env_str(
            "JOINTDESK_DISCLOSURE_LIMIT", "60 per minute;1000 per hour"
        ),
        # online self-service: one-time codes (minutes valid, attempts), their limits per phone
        # number and per client address, and applications per client address
        "JOINTDESK_OTP_MINUTES": max(1, int(env_float("JOINTDESK_OTP_MINUTES", 5))),
        "JOINTDESK_OTP_ATTEMPTS": int(env_float("JOINTDESK_OTP_ATTEMPTS", 5)),
        "JOINTDESK_OTP_PHONE_LIMIT": env_str(
            "JOINTDESK_OTP_PHONE_LIMIT", "1 per minute;5 per hour;10 per day"
        ),
        "JOINTDESK_OTP_CLIENT_LIMIT": env_str(
            "JOINTDESK_OTP_CLIENT_LIMIT", "20 per hour;100 per day"
        ),
        "JOINTDESK_ONLINE_SUBMIT_LIMIT": env_str(
            "JOINTDESK_ONLINE_SUBMIT_LIMIT", "30 per hour;200 per day"
        ),
        # how long a browser that entered the right code may submit for that phone
        "JOINTDESK_ONLINE_VERIFIED_MINUTES": env_float("JOINTDESK_ONLINE_VERIFIED_MINUTES", 30),
        "JOINTDESK_LOGIN_LIMIT": env_str("JOINTDESK_LOGIN_LIMIT", "10 per minute"),
        # failed sign-ins for one username (from any address) that lock it, and for how long
        "JOINTDESK_LOGIN_LOCK_FAILURES": int(env_float("JOINTDESK_LOGIN_LOCK_FAILURES", 10)),
        "JOINTDESK_LOGIN_LOCK_MINUTES": env_float("JOINTDESK_LOGIN_LOCK_MINUTES", 15),
        # a web session ends this many hours after sign-in at the latest
        "JOINTDESK_SESSION_HOURS": env_float("JOINTDESK_SESSION_HOURS", 12),
        # ratings and complaints: working days to call back after a 差评 and to rectify it,
        # working days to answer a complaint, and public complaint forms per client
        "JOINTDESK_RATING_CALLBACK_DAYS": env_float("JOINTDESK_RATING_CALLBACK_DAYS", 1),
        "JOINTDESK_RATING_RECTIFY_DAYS": env_float("JOINTDESK_RATING_RECTIFY_DAYS", 5),
        "JOINTDESK_COMPLAINT_DAYS": env_float("JOINTDESK_COMPLAINT_DAYS", 5),
        "JOINTDESK_COMPLAINT_SUBMIT_LIMIT": env_str(
            "JOINTDESK_COMPLAINT_SUBMIT_LIMIT", "5 per hour;20 per day"
        ),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": env_str("JOINTDESK_TIMEZONE", "Asia/Shanghai"),
        "MAX_CONTENT_LENGTH": 256 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env_bool("JOINTDESK_SECURE_COOKIES", not development),
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        # fault injection for the crash tests: seconds a delivery task sleeps before committing
        "JOINTDESK_FAULT_DELIVERY_DELAY": env_float("JOINTDESK_FAULT_DELIVERY_DELAY", 0),
        "CELERY": {
            "broker_url": broker_url,
            "broker_transport_options": transport_options,
            "broker_connection_timeout": 2,
            "broker_connection_retry_on_startup": True,
            "task_ignore_result": True,
            "task_default_queue": "jointdesk",
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # tasks take milliseconds; a few in hand each keeps the pool busy (acks stay late)
            "worker_prefetch_multiplier": 4,
            "worker_hijack_root_logger": False,
            "timezone": "UTC",
            "beat_schedule_filename": str(inst / "celerybeat-schedule"),
            # the scheduler records its heartbeat; it wakes at least once per heartbeat
            "beat_scheduler": "jointdesk.celery_setup:HeartbeatScheduler",
            "beat_max_interval": env_float("JOINTDESK_HEARTBEAT_SECONDS", 5),
        },
    }

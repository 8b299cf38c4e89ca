"""Liveness of background processes: one row per worker or scheduler process while it runs.

A process writes its row when it starts and refreshes ``seen_at`` every
``JOINTDESK_HEARTBEAT_SECONDS`` (one small UPDATE); it sets ``stopped_at`` when it stops
cleanly, and ``jointdesk run`` sets it when a process it supervises dies. A row not refreshed
for three intervals is a process that vanished.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow

WORKER = "worker"
SCHEDULER = "scheduler"


class Heartbeat(db.Model):
    __tablename__ = "heartbeats"

    # random per process start, so a restarted process (same host, even same pid) is a new row
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at = mapped_column(UTCDateTime, default=utcnow)
    seen_at = mapped_column(UTCDateTime, default=utcnow, index=True)
    stopped_at = mapped_column(UTCDateTime, nullable=True)

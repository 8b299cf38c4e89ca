"""The embedded filesystem broker never hands out a half-written message (celery/kombu#1551).

Real files, real processes: several publishers write large messages into one queue folder while
a consumer drains it as fast as it can. Every message must arrive whole, exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

PUBLISHERS = 4
PER_PUBLISHER = 25
BIG = "水" * 250_000  # ~750 KB of JSON: the write of one message takes a while


def _options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def _publish(transport: str, folder: str, publisher: int) -> None:
    with Connection(
        "filesystem://", transport=transport, transport_options=_options(Path(folder))
    ) as conn:
        queue = conn.SimpleQueue("race")
        for n in range(PER_PUBLISHER):
            queue.put({"publisher": publisher, "n": n, "body": BIG}, serializer="json")
        queue.close()


def _race(transport: str) -> tuple[set, list[str]]:
    """Runs the publishers against one consumer; returns what arrived and what failed."""
    folder = Path(tempfile.mkdtemp(prefix="broker-race-"))
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir()
    ctx = multiprocessing.get_context("fork")
    received: set = set()
    errors: list[str] = []
    with Connection(
        "filesystem://", transport=transport, transport_options=_options(folder)
    ) as conn:
        queue = conn.SimpleQueue("race")
        procs = [
            ctx.Process(target=_publish, args=(transport, str(folder), p))
            for p in range(PUBLISHERS)
        ]
        for proc in procs:
            proc.start()
        expected = PUBLISHERS * PER_PUBLISHER
        while len(received) + len(errors) < expected:
            try:
                message = queue.get(block=False)
            except Empty:
                if all(not p.is_alive() for p in procs) and not _pending(folder):
                    break
                continue
            except ValueError as exc:  # JSONDecodeError: a partial file was handed out
                errors.append(repr(exc))
                continue
            body = message.payload
            message.ack()
            if body["body"] != BIG:
                errors.append(f"truncated body from {body['publisher']}/{body['n']}")
            key = (body["publisher"], body["n"])
            if key in received:
                errors.append(f"duplicate {key}")
            received.add(key)
        for proc in procs:
            proc.join(30)
        queue.close()
    return received, errors


def _pending(folder: Path) -> bool:
    return any(name.endswith(".race.msg") for name in os.listdir(folder / "queue"))


def test_consumer_never_sees_a_partial_message():
    received, errors = _race("jointdesk.broker:Transport")
    assert errors == []
    assert received == {(p, n) for p in range(PUBLISHERS) for n in range(PER_PUBLISHER)}


def test_the_stock_transport_does_hand_out_partial_messages():
    """Why jointdesk.broker exists: the same race breaks kombu's own transport. If this starts
    failing, kombu has fixed #1551 and jointdesk.broker may be retired."""
    _received, errors = _race("kombu.transport.filesystem:Transport")
    if not errors:
        pytest.xfail("the race did not show this time (it usually does within 100 messages)")
    assert any("Expecting value" in e or "Unterminated" in e or "truncated" in e for e in errors)


def test_filesystem_url_resolves_to_the_atomic_transport(app):
    from kombu.transport import resolve_transport

    from jointdesk.broker import Transport, register

    register()
    assert resolve_transport("filesystem") is Transport

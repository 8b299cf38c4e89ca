"""The embedded broker: kombu's filesystem transport, made safe for concurrent readers.

Stock kombu (5.x, celery/kombu#1551) creates a message file under its final name and then
writes it, and a reader claims files by name with ``shutil.move`` (a copy when the processed
folder, the system temp folder by default, is on another filesystem). A worker polling the
folder can therefore claim a file that is still empty or half written, fail to parse it and stop
with ``Unrecoverable error: JSONDecodeError``. The exchange tables in the control folder have the
same flaw (a new table is truncated before it is locked and written).

Here every file appears only when complete: a message is written to a hidden name in the same
folder (so on the same filesystem, and outside the ``<ts>_<uuid>.<queue>.msg`` pattern the
reader lists), flushed, and ``os.replace``-d to its final name, which is atomic on POSIX. A
reader claims a message by renaming it to a hidden name in that same folder (atomic: exactly one
reader wins) before reading it. Exchange tables are rewritten whole and replaced the same way,
writers serialised by a lock file. A file that still cannot be parsed (left by an older version)
is set aside under ``<name>.bad`` and logged, never allowed to stop a worker.

``register()`` makes ``filesystem://`` resolve to this transport in the current process; the
Celery setup calls it before any connection is made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

TRANSPORT_PATH = "jointdesk.broker:Transport"
_STAGING_PREFIX = ".staging-"
_CLAIM_PREFIX = ".claimed-"


def _write_atomically(folder: str, final_name: str, data: bytes) -> None:
    """Writes ``data`` to ``folder/final_name`` so that no one ever sees it incomplete."""
    staging = os.path.join(folder, f"{_STAGING_PREFIX}{uuid.uuid4().hex}")
    try:
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(staging, os.path.join(folder, final_name))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise


class Channel(filesystem.Channel):
    """Filesystem channel whose messages and exchange tables appear whole or not at all."""

    def _put(self, queue, payload, **kwargs):
        name = f"{int(filesystem.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        try:
            _write_atomically(self.data_folder_out, name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        folder = self.data_folder_in
        for name in sorted(os.listdir(folder)):
            if name.startswith(".") or name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(folder, f"{_CLAIM_PREFIX}{os.getpid()}-{uuid.uuid4().hex}")
            try:
                os.rename(os.path.join(folder, name), claimed)  # atomic: one reader wins
            except OSError:
                continue  # another reader took it
            try:
                with open(claimed, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {name!r} from queue.") from exc
            try:
                payload = loads(bytes_to_str(raw))
            except ValueError:
                bad = os.path.join(folder, f"{name}.bad")
                with contextlib.suppress(OSError):
                    os.replace(claimed, bad)
                log.error("unreadable broker message set aside as %s", bad)
                continue
            self._dispose(claimed, name)
            return payload
        raise Empty()

    def _dispose(self, claimed: str, name: str) -> None:
        if self.store_processed:
            with contextlib.suppress(OSError):
                os.replace(claimed, os.path.join(self.processed_folder, name))
                return
        with contextlib.suppress(OSError):
            os.unlink(claimed)

    # -- exchange tables: rewritten whole, replaced atomically, writers serialised -------------

    @contextlib.contextmanager
    def _table_lock(self, exchange):
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(f"{file}.lock", "a+b") as lock_file:
            filesystem.lock(lock_file, filesystem.LOCK_EX)
            try:
                yield file
            finally:
                filesystem.unlock(lock_file)

    def _read_table(self, file) -> list:
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(raw))]
        except ValueError:
            log.error("unreadable exchange table %s; starting it again", file)
            return []

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            return self._read_table(file)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            with self._table_lock(exchange) as file:
                queues = self._read_table(file)
                if entry not in queues:
                    queues.insert(0, entry)
                    _write_atomically(str(file.parent), file.name, str_to_bytes(dumps(queues)))
        except OSError as exc:
            raise ChannelError(f"Cannot open {self._exchange_file(exchange)}") from exc

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # the virtual channel's in-memory bookkeeping, then our table (not the stock rewrite)
        filesystem.virtual.Channel._delete(
            self, queue, exchange, routing_key, pattern, *args, **kwargs
        )
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange) as file:
            if not file.exists():
                return
            queues = self._read_table(file)
            if entry in queues:
                queues.remove(entry)
                _write_atomically(str(file.parent), file.name, str_to_bytes(dumps(queues)))


class Transport(filesystem.Transport):
    """``filesystem://`` with atomic writes and claims (see the module docstring)."""

    Channel = Channel
    global_state = filesystem.virtual.BrokerState()


def register() -> None:
    """Makes ``filesystem://`` mean this transport in this process."""
    TRANSPORT_ALIASES["filesystem"] = TRANSPORT_PATH


# --- Redis: publishing without building a client per message ---------------------------------
# kombu's Redis channel builds a new ``redis.Redis`` around its connection pool for every
# message it publishes (``conn_or_acquire``); redis-py fills a table of ~150 response callbacks
# in each one, which costs more than the LPUSH itself. A client is a thin, thread-safe handle
# on the pool, so one per channel serves every publication alike.

REDIS_TRANSPORT_PATH = "jointdesk.broker:RedisTransport"


def _redis_classes():
    from kombu.transport import redis

    class RedisChannel(redis.Channel):
        _publishing_client = None

        def _create_client(self, asynchronous=False):
            if asynchronous:
                return super()._create_client(asynchronous=True)
            if self._publishing_client is None:
                self._publishing_client = super()._create_client(asynchronous=False)
            return self._publishing_client

        def close(self):
            self._publishing_client = None
            super().close()

    class RedisTransport(redis.Transport):
        Channel = RedisChannel

    return RedisChannel, RedisTransport


RedisChannel, RedisTransport = _redis_classes()


def register_redis() -> None:
    """Makes ``redis://`` and ``rediss://`` mean the transport above in this process."""
    TRANSPORT_ALIASES["redis"] = REDIS_TRANSPORT_PATH
    TRANSPORT_ALIASES["rediss"] = REDIS_TRANSPORT_PATH

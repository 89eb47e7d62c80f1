"""One bot per SQLite file: `carebot run` holds an OS lock on `<database>.lock` for as long as it runs.

A second bot on the same file would poll Telegram against the first and run every scheduled job twice, so it
refuses to start. Other commands (`carebot db upgrade`, imports, exports, `jobs run`) do not take the lock and
work beside the running bot. The OS drops the lock when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import is_sqlite


class AlreadyRunning(Exception):
    """Another `carebot run` holds the database; the message says which file, in one line."""


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    if not is_sqlite(database_url):
        return None
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).resolve()


@contextlib.contextmanager
def single_bot_on(database_url: str) -> Iterator[None]:
    """Hold `<database>.lock` while the block runs; raise AlreadyRunning if another process holds it."""
    path = sqlite_path(database_url)
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another carebot is already running on {path} (it holds {lock_path.name}); "
                "stop it first, or use PostgreSQL to run several replicas"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(descriptor)

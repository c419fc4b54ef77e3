"""The SQLite backend (playground/sqlite): a process's writers take turns on a lock of its own.

Mostly on a database file of the test's own, through connections made for it, so that threads
write beside each other as the web server's and the sweeper's do.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection, connections, transaction
from django.db.utils import ConnectionHandler
from django.test.utils import CaptureQueriesContext

from playground.sqlite.base import WriterQueue, is_write, writer_lock
from tests.forking import in_child

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own backend"),
    pytest.mark.django_db,
]


@pytest.fixture
def handler(tmp_path) -> Iterator[ConnectionHandler]:
    """Connections to a database file of the test's own, opened as the app's settings open
    SQLite; each thread gets its own, as from `django.db.connections`."""
    settings_dict = {
        **connections["default"].settings_dict,
        "NAME": str(tmp_path / "writers.sqlite3"),
        "ENGINE": "playground.sqlite",
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
    }
    made = ConnectionHandler({"default": settings_dict})
    with made["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE tally (thread INTEGER, n INTEGER)")
    yield made
    made.close_all()


@pytest.fixture
def database(handler) -> str:
    return handler["default"].settings_dict["NAME"]


def execute(handler: ConnectionHandler, sql: str, params: tuple = ()) -> list[tuple]:
    with handler["default"].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def write_transaction(handler: ConnectionHandler) -> Iterator[None]:
    """What an outermost `transaction.atomic()` does with the connection (this one is not
    among `django.db.connections`)."""
    wrapper = handler["default"]
    wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        yield
    except BaseException:
        wrapper.rollback()
        raise
    else:
        wrapper.commit()
    finally:
        wrapper.set_autocommit(True)


def in_thread(handler: ConnectionHandler, work: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            handler["default"].close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_app_opens_sqlite_through_the_queued_backend(settings):
    assert settings.DATABASES["default"]["ENGINE"] == "playground.sqlite"


def test_writers_in_many_threads_all_land(handler, database):
    errors: list[BaseException] = []

    def writer(number: int) -> Callable[[], None]:
        def write() -> None:
            try:
                for n in range(20):
                    if n % 2:
                        execute(handler, "INSERT INTO tally VALUES (%s, %s)", (number, n))
                    else:
                        with write_transaction(handler):
                            execute(handler, "INSERT INTO tally VALUES (%s, %s)", (number, n))
                            execute(handler, "UPDATE tally SET n = n WHERE thread = %s", (number,))
            except BaseException as error:
                errors.append(error)

        return write

    threads = [in_thread(handler, writer(number)) for number in range(16)]
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert execute(handler, "SELECT COUNT(*), COUNT(DISTINCT thread) FROM tally") == [(320, 16)]
    assert not writer_lock(database).locked()


@pytest.mark.django_db(transaction=True)
def test_a_transaction_holds_the_lock_from_its_start_to_its_end():
    lock = writer_lock(connection.settings_dict["NAME"])

    with transaction.atomic():
        assert lock.locked()  # from BEGIN, before any statement
        connection.cursor().execute("SELECT 1")
        assert lock.locked()
    assert not lock.locked()

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        User.objects.create(username="rolled-back")
        assert lock.locked()
        1 / 0  # noqa: B018 (the rollback's path)
    assert not lock.locked()
    assert not User.objects.filter(username="rolled-back").exists()


def test_a_connection_closed_inside_a_transaction_lets_the_lock_go(handler, database):
    lock = writer_lock(database)
    wrapper = handler["default"]
    wrapper.ensure_connection()
    wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    assert lock.locked()

    wrapper.close()

    assert not lock.locked()


def test_a_write_outside_a_transaction_waits_for_the_lock_and_reads_do_not(handler, database):
    lock = writer_lock(database)
    lock.acquire()
    try:
        writing = in_thread(handler, lambda: execute(handler, "INSERT INTO tally VALUES (1, 1)"))
        writing.join(timeout=0.3)
        assert writing.is_alive()  # queued behind the holder
        assert execute(handler, "SELECT COUNT(*) FROM tally") == [(0,)]  # reads go on
    finally:
        lock.release()
    writing.join(timeout=30)
    assert not writing.is_alive()
    assert execute(handler, "SELECT COUNT(*) FROM tally") == [(1,)]


def test_waiting_past_the_busy_timeout_fails_as_sqlite_does(handler, database):
    wrapper = handler["default"]
    wrapper.settings_dict["OPTIONS"]["timeout"] = 0.05
    wrapper._writers = None  # made again, with the new timeout
    lock = writer_lock(database)
    lock.acquire()
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            execute(handler, "INSERT INTO tally VALUES (1, 1)")
        with (
            pytest.raises(OperationalError, match="database is locked"),
            write_transaction(handler),
        ):
            pass
    finally:
        lock.release()
    execute(handler, "INSERT INTO tally VALUES (1, 1)")  # the lock free again, the write goes
    assert execute(handler, "SELECT COUNT(*) FROM tally") == [(1,)]
    assert not lock.locked()


def test_the_queue_s_own_wait_ends_at_its_timeout(tmp_path):
    queue = WriterQueue(str(tmp_path / "x.sqlite3"), 0.05, sqlite3.OperationalError)
    with queue.held(), pytest.raises(sqlite3.OperationalError, match="database is locked"):
        queue.acquire()
    assert not queue.lock.locked()


def test_one_lock_per_database_file_however_its_path_is_spelt(tmp_path):
    (tmp_path / "sub").mkdir()
    assert writer_lock(str(tmp_path / "a.db")) is writer_lock(str(tmp_path / "sub" / ".." / "a.db"))
    assert writer_lock(str(tmp_path / "a.db")) is not writer_lock(str(tmp_path / "b.db"))


def test_in_memory_databases_have_no_queue():
    handler = ConnectionHandler({"default": {"ENGINE": "playground.sqlite", "NAME": ":memory:"}})
    wrapper = handler["default"]
    assert wrapper.writers() is None
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TABLE t (n INTEGER)")
        cursor.execute("INSERT INTO t VALUES (1)")
        cursor.execute("SELECT n FROM t")
        assert cursor.fetchall() == [(1,)]
    wrapper.close()


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ('INSERT INTO "t" VALUES (1)', True),
        ("  update t set n = 1", True),
        ("DELETE FROM t", True),
        ("REPLACE INTO t VALUES (1)", True),
        ('SELECT "n" FROM "t"', False),
        ("BEGIN IMMEDIATE", False),
        ("SAVEPOINT s1", False),
        ("PRAGMA foreign_keys = ON", False),
    ],
)
def test_what_counts_as_a_write(sql, writes):
    assert is_write(sql) is writes


def test_a_forked_child_starts_with_its_locks_free(tmp_path):
    path = str(tmp_path / "forked.sqlite3")
    lock = writer_lock(path)
    with lock:

        def free() -> bool:
            fresh = writer_lock(path)
            return fresh is not lock and fresh.acquire(timeout=5)

        assert in_child(free)


def test_processes_take_turns_through_the_lock_file(tmp_path):
    path = str(tmp_path / "shared.sqlite3")
    taken_read, taken_write = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the parent's assertions tell how it went)
        try:
            theirs = WriterQueue(path, 5, sqlite3.OperationalError)
            theirs.acquire()
            os.write(taken_write, b"x")
            os.read(go_read, 1)
            theirs.release()
        finally:
            os.write(taken_write, b"x")  # never leave the parent waiting
            os._exit(0)
    try:
        os.read(taken_read, 1)  # the other process holds its turn
        mine = WriterQueue(path, 0.05, sqlite3.OperationalError)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            mine.acquire()
        assert not mine.lock.locked()  # this process's own turn given back with the failure
    finally:
        os.write(go_write, b"x")
        os.waitpid(child, 0)
    mine.timeout = 5
    with mine.held():
        assert mine.lock.locked()
    assert Path(path + "-writer").exists()


def test_statements_are_recorded_when_asked_not_because_debug_is_on(settings, handler):
    settings.DEBUG = True  # as under make run
    wrapper = handler["default"]
    execute(handler, "SELECT 1")
    assert wrapper.queries == []
    with CaptureQueriesContext(wrapper) as queries:
        execute(handler, "SELECT 2")
    assert [query["sql"] for query in queries.captured_queries] == ["SELECT 2"]


def test_a_deferred_transaction_takes_no_turn_and_writers_go_on_beside_it(handler, database):
    # A backup's snapshot: a deferred transaction that only reads.
    wrapper = handler["default"]
    wrapper.ensure_connection()
    wrapper.transaction_mode = "DEFERRED"
    with write_transaction(handler):
        assert execute(handler, "SELECT COUNT(*) FROM tally") == [(0,)]
        assert not writer_lock(database).locked()
        writing = in_thread(handler, lambda: execute(handler, "INSERT INTO tally VALUES (1, 1)"))
        writing.join(timeout=30)
        assert not writing.is_alive()
        assert execute(handler, "SELECT COUNT(*) FROM tally") == [(0,)]  # its snapshot
    assert execute(handler, "SELECT COUNT(*) FROM tally") == [(1,)]


def test_a_fork_inside_a_transaction_leaves_the_parents_turn_alone(tmp_path):
    path = str(tmp_path / "forked.sqlite3")
    mine = WriterQueue(path, 5, sqlite3.OperationalError)

    def releases() -> bool:
        mine.release()  # what closing an inherited connection does
        return True

    def refused() -> bool:
        theirs = WriterQueue(path, 0.05, sqlite3.OperationalError)
        try:
            theirs.acquire()
        except sqlite3.OperationalError:
            return True
        return False  # it got the turn the parent still holds

    with mine.held():
        assert in_child(releases)
        assert in_child(refused)


def test_a_kept_connection_serves_again_while_its_file_is_the_same(handler, database):
    execute(handler, "INSERT INTO tally VALUES (1, 1)")
    assert handler["default"].is_usable()


@pytest.mark.parametrize("change", ["replaced", "deleted"])
def test_a_kept_connection_to_a_file_replaced_or_deleted_is_not_used_again(
    handler, database, change
):
    kept = handler["default"]
    execute(handler, "INSERT INTO tally VALUES (1, 1)")
    if change == "replaced":
        fresh = Path(database).with_name("fresh.sqlite3")
        sqlite3.connect(fresh).close()
        os.replace(fresh, database)
    else:
        os.remove(database)
    assert not kept.is_usable()
    # What Django does at the start of a request or task with a connection found unusable.
    kept.health_check_done = False
    kept.close_if_health_check_failed()
    assert kept.connection is None
    assert execute(handler, "SELECT name FROM sqlite_master WHERE name = 'tally'") == []


def test_a_kept_connection_that_no_longer_answers_is_not_used_again(handler, database):
    kept = handler["default"]
    execute(handler, "SELECT 1")
    kept.connection.close()  # what an I/O error leaves: a connection that cannot run anything
    assert not kept.is_usable()

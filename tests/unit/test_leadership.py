"""The reconciler's lock on PostgreSQL: one holder at a time, and it ends with its connection."""
from __future__ import annotations

import psycopg
import pytest

from merlin_jupyter_server.leadership import Leadership

from tests.waiting import wait_until


@pytest.fixture
def url(postgres):
    url = postgres.fresh_database("leader")
    yield url
    postgres.drop_database(url)


def test_one_replica_holds_the_lock_and_another_gets_it_when_its_connection_ends(url):
    first, second = Leadership(url, "merlin a pid 1"), Leadership(url, "merlin b pid 2")
    try:
        assert first.try_acquire() and first.try_acquire()  # taken, then kept
        assert not second.try_acquire()
        # The leader's connection ends as when its process is killed or its host vanishes. The
        # backend exits after pg_terminate_backend returns (the second argument waits for it,
        # up to 30 s), and only its exit frees the lock: ask until it is free.
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                          "WHERE application_name = 'merlin a pid 1'")
        wait_until(second.try_acquire, 30, "the second replica takes the lock its leader lost")
        assert not first.try_acquire()  # it noticed, and the lock is another's now
        second.release()
        assert first.try_acquire()  # a released lock is free at once
    finally:
        first.release()
        second.release()

"""Database connections are kept between queries, on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django_q.brokers.orm import ORM


@pytest.mark.django_db(transaction=True)  # outside a transaction, where the broker closes
def test_the_task_queue_in_the_database_keeps_the_connection_it_shares():
    connection.ensure_connection()
    opened = connection.connection
    # django-q2's ORM broker closes "old" connections before each of its queries: with none
    # kept, every enqueue and every look at the queue opened the database anew.
    assert not ORM.get_connection().filter(key="nothing").exists()
    assert not ORM.get_connection().filter(key="nothing").exists()
    assert connection.connection is opened

"""generations/transactions.py: a savepoint only inside a caller's transaction."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from generations import transactions

pytestmark = pytest.mark.django_db(transaction=True)


def test_alone_a_refused_statement_takes_no_transaction_and_leaves_nothing(alice):
    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(IntegrityError),
        transactions.savepoint_if_nested(),
    ):
        User.objects.create(username="alice")
    assert not [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(("BEGIN", "SAVEPOINT"))
    ]
    assert User.objects.count() == 1


def test_inside_a_transaction_a_refused_statement_leaves_it_usable(alice):
    with transaction.atomic():
        with pytest.raises(IntegrityError), transactions.savepoint_if_nested():
            User.objects.create(username="alice")
        User.objects.create(username="after")
    assert User.objects.filter(username="after").exists()

"""Successful task results: saved by the cluster without pruning, pruned by a schedule."""

from __future__ import annotations

import pydoc
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, Schedule, Success, Task
from django_q.monitor import save_task

from generations import schedules, task_results

pytestmark = pytest.mark.django_db


def a_result(stopped, *, success: bool = True) -> dict:
    return {
        "id": uuid.uuid4().hex,
        "name": f"task-{uuid.uuid4().hex[:8]}",
        "func": "generations.tasks.ingest_generation",
        "args": (1,),
        "kwargs": {},
        "started": stopped - timedelta(seconds=1),
        "stopped": stopped,
        "result": None,
        "success": success,
    }


def saved(count: int, *, success: bool = True) -> list[str]:
    """`count` results, one a second, the newest last; their ids."""
    now = timezone.now()
    results = [a_result(now - timedelta(seconds=count - n), success=success) for n in range(count)]
    Task.objects.bulk_create(Task(**result) for result in results)
    return [result["id"] for result in results]


def test_pruning_keeps_the_newest_successes_and_every_failure():
    failures = saved(3, success=False)  # older than every success: only their kind keeps them
    Task.objects.filter(id__in=failures).update(stopped=timezone.now() - timedelta(hours=1))
    ids = saved(12)
    assert task_results.prune(kept=5) == 7
    assert set(Success.objects.values_list("id", flat=True)) == set(ids[-5:])
    assert set(Failure.objects.values_list("id", flat=True)) == set(failures)


def test_results_stopped_at_the_same_moment_are_kept_to_the_number():
    moment = timezone.now()
    Task.objects.bulk_create(Task(**a_result(moment)) for _ in range(6))
    assert task_results.prune(kept=4) == 2
    assert Success.objects.count() == 4


def test_pruning_fewer_results_than_are_kept_deletes_nothing():
    saved(3)
    assert task_results.prune(kept=5) == 0
    assert Success.objects.count() == 3


@pytest.mark.django_db(transaction=True)  # the monitor closes a connection inside one
def test_the_cluster_saves_a_result_without_pruning_in_a_transaction():
    saved(20)
    with CaptureQueriesContext(connection) as queries:
        save_task(a_result(timezone.now()), get_broker())
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    # Django-q2's own pruning would lock and read every kept result first.
    assert statements == ["SELECT", "INSERT"], statements
    assert Success.objects.count() == 21


def test_pruning_keeps_at_least_one_result():
    with pytest.raises(ValueError):
        task_results.prune(kept=0)


def test_a_schedule_prunes_every_few_minutes():
    schedule = Schedule.objects.get(name="generations: prune task results")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 5, -1)
    saved(task_results.KEPT + 2)
    pydoc.locate(schedule.func)()
    assert Success.objects.count() == task_results.KEPT


@pytest.mark.django_db(transaction=True)
def test_the_schedules_are_made_again_after_a_flush():
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    assert set(Schedule.objects.values_list("name", flat=True)) == set(schedules.SCHEDULES)


def test_a_missing_schedule_is_made_again_and_a_changed_one_left_as_it_is():
    Schedule.objects.filter(name="generations: prune task results").delete()
    Schedule.objects.filter(name="generations: sweep predictions").update(minutes=2)
    assert schedules.ensure() == ["generations: prune task results"]
    assert Schedule.objects.get(name="generations: sweep predictions").minutes == 2
    assert Schedule.objects.get(name="generations: prune task results").minutes == 5

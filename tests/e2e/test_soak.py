"""A short fault soak in the suite: 50 generations through a faulty simulator, one cluster kill.

The full soak (`make soak`: 500 generations, two kills, both databases) is tests/bench/soak.py;
this runs the same code small, on the suite's database: SQLite with the ORM broker, or
PostgreSQL with Redis when DATABASE_URL and REDIS_URL point at them (as .ci/run's second run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.apprunner import ARTIFACTS
from tests.bench.soak import Backend, soak, table
from tests.services import (
    flushed_redis_database,
    fresh_postgres_database,
    postgres_from_environment,
)

pytestmark = pytest.mark.e2e

GENERATIONS = 50
# Redis databases: the suite's REDIS_URL uses 15 (.ci/run), the stack test 14.
SOAK_REDIS_DB = 13


@pytest.fixture
def backend(tmp_path) -> Iterator[Backend]:
    if postgres_from_environment() is None:
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'db.sqlite3'}")
        return
    with (
        fresh_postgres_database("soak_test") as database_url,
        flushed_redis_database(SOAK_REDIS_DB) as redis_url,
    ):
        yield Backend("postgres", database_url, redis_url, clusters=2)


def test_a_short_fault_soak_loses_nothing_and_charges_nothing_twice(backend, tmp_path):
    result = soak(backend, generations=GENERATIONS, kills=1, workdir=tmp_path)
    figures = result.figures
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"soak-{backend.name}.json").write_text(json.dumps(figures, indent=2))
    print(table(figures))

    assert result.passed, "\n".join(result.failures)
    assert figures["kills"] == 1
    assert sum(figures["final_states"].values()) == GENERATIONS
    assert figures["duplicate_predictions"] == 0
    assert figures["images"] == figures["final_states"]["completed"]
    # The faults did happen: the soak proves nothing against a well-behaved simulator.
    injected = figures["faults_injected"]
    assert sum(injected.get(kind, 0) for kind in ("500", "502", "503")) > 0, injected
    assert injected.get("lost_answer", 0) + injected.get("drop_created", 0) > 0, injected

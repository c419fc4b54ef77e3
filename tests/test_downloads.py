"""An ingest task hands its download to its process's threads and returns, so its worker takes
the next task at once; with every thread busy it downloads in place."""

from __future__ import annotations

import threading

import pytest

from generations import downloads, tasks
from tests.apprunner import wait_for


@pytest.fixture
def held_downloads(monkeypatch, settings) -> tuple[list[int], threading.Event]:
    """Downloads that record themselves and wait for the event; two threads in a fresh pool."""
    ran: list[int] = []
    release = threading.Event()

    def download(generation_id: int) -> None:
        ran.append(generation_id)
        release.wait(10)

    monkeypatch.setattr(downloads.ingest, "ingest_outputs", download)
    settings.DOWNLOAD_THREADS = 2
    monkeypatch.setattr(tasks, "downloads", downloads.Downloads())
    yield ran, release
    release.set()


def test_the_ingest_task_returns_while_its_download_runs_in_a_thread(held_downloads):
    ran, release = held_downloads
    finished = threading.Event()
    task = threading.Thread(target=lambda: (tasks.ingest_generation(1), finished.set()))
    task.start()
    # The download waits for `release`; the task is over before it.
    assert finished.wait(10), "the task waited for its download"
    wait_for(lambda: ran == [1], 10, "the download to start", interval=0.01)
    assert tasks.downloads.pending() == 1
    release.set()
    wait_for(lambda: tasks.downloads.pending() == 0, 10, "the download to end", interval=0.01)


def test_with_every_thread_busy_the_task_downloads_itself(held_downloads):
    ran, release = held_downloads
    tasks.ingest_generation(1)
    tasks.ingest_generation(2)
    wait_for(lambda: sorted(ran) == [1, 2], 10, "both threads to start", interval=0.01)
    third = threading.Thread(target=tasks.ingest_generation, args=(3,))
    third.start()
    wait_for(lambda: 3 in ran, 10, "the third download", interval=0.01)
    assert third.is_alive()  # downloading in the task itself: its worker waits for it
    assert tasks.downloads.pending() == 2
    release.set()
    third.join(10)
    assert not third.is_alive()


def test_a_pool_that_no_longer_takes_work_hands_the_download_back(held_downloads):
    pool = tasks.downloads
    assert pool.start(1)
    pool._threads._pool.shutdown(wait=False)  # as at the process's exit
    assert not pool.start(2)  # the caller downloads it itself
    assert pool.pending() == 1

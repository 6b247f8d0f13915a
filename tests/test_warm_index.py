"""The warm index alone: when it starts empty, and what it keeps after a commit."""

from __future__ import annotations

from store.pulse_builder import FakeTask, make_request, slug

from mozci_monitor.core.machine import observe
from mozci_monitor.core.model import RequestState, TaskRecord
from mozci_monitor.warm_index import WarmIndex


def _task(n: int) -> TaskRecord:
    return observe(None, FakeTask(slug(n)).pending().event().status, "label").record


def _filled(index: WarmIndex, generation: int) -> None:
    index.absorb(
        generation,
        tasks={slug(1): _task(1), slug(2): None},
        requests={"req-1": make_request("req-1")},
        serving={(slug(1), "g", "label"): ("req-1",)},
        keep_serving=True,
    )


def test_it_keeps_what_a_commit_left_and_not_what_was_not_found() -> None:
    index = WarmIndex()
    index.begin(4)
    _filled(index, 5)
    assert index.generation == 5
    assert set(index.tasks) == {slug(1)}  # "no such task" is not remembered
    assert index.serving == {(slug(1), "g", "label"): ("req-1",)}
    newer = make_request("req-1", state=RequestState.RUNNING)
    index.absorb(6, tasks={}, requests={"req-1": newer}, serving={}, keep_serving=True)
    assert index.requests["req-1"] is newer and index.generation == 6


def test_it_starts_empty_when_the_store_moved_on() -> None:
    index = WarmIndex()
    _filled(index, 5)
    index.begin(5)  # nobody wrote since
    assert index.tasks and index.reloads == 0
    index.begin(7)  # someone else did
    assert (index.tasks, index.requests, index.serving) == ({}, {}, {})
    assert index.generation == 7 and index.reloads == 1


def test_grown_serving_answers_are_dropped() -> None:
    index = WarmIndex()
    _filled(index, 5)
    index.absorb(6, tasks={}, requests={}, serving={}, keep_serving=False)
    assert index.serving == {} and index.tasks  # rows stay right; the answers may not


def test_past_its_limits_it_starts_empty_at_the_stores_generation() -> None:
    index = WarmIndex(max_tasks=1)
    index.absorb(
        3, tasks={slug(1): _task(1), slug(2): _task(2)}, requests={}, serving={}, keep_serving=True
    )
    assert index.tasks == {} and index.generation == 3 and index.reloads == 1

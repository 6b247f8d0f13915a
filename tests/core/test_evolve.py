"""core.evolve: the same copies as dataclasses.replace, by a cheaper road where it is one."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, replace
from typing import Any

import pytest

from mozci_monitor.core.evolve import evolve
from mozci_monitor.core.model import ActionTask, Push, Request, RequestState


@dataclass(frozen=True, slots=True)
class One:
    value: int


@dataclass(frozen=True)
class NoSlots:
    value: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


@dataclass(frozen=True, slots=True)
class Derived:
    value: int
    double: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "double", self.value * 2)


REQUEST = Request(
    "req-1",
    Push("autoland", "a" * 40, "group"),
    "test-linux",
    wanted=2,
    task_ids=("t1", "t2"),
    action_tasks=(ActionTask("a1", "key", "retrigger"),),
)


@pytest.mark.parametrize(
    ("record", "changes"),
    [
        (REQUEST, {}),
        (REQUEST, {"state": RequestState.RUNNING, "runs_green": 1}),
        (REQUEST, {"task_ids": (), "reason": "why"}),
        (ActionTask("a1", "key", "retrigger"), {"state": "completed", "times": 3}),
        (One(1), {"value": 2}),
        (NoSlots(1, ("a",)), {"tags": ()}),
        (Checked(1), {"value": 5}),
        (Derived(2), {"value": 3}),
    ],
)
def test_evolve_makes_the_copy_replace_makes(record: Any, changes: dict[str, Any]) -> None:
    copy = evolve(record, **changes)
    assert copy == replace(record, **changes)
    assert type(copy) is type(record) and copy is not record
    assert hash(copy) == hash(replace(record, **changes))


def test_the_copy_is_frozen_and_the_original_untouched() -> None:
    copy = evolve(REQUEST, state=RequestState.FAILED)
    assert REQUEST.state is RequestState.SCHEDULED
    with pytest.raises(FrozenInstanceError):
        copy.state = RequestState.RUNNING  # type: ignore[misc]


def test_an_unknown_field_is_refused_as_replace_refuses_it() -> None:
    with pytest.raises(TypeError):
        evolve(REQUEST, colour="red")
    with pytest.raises(TypeError):
        replace(REQUEST, colour="red")  # type: ignore[call-arg]


def test_a_class_that_checks_its_fields_still_checks_them() -> None:
    with pytest.raises(ValueError, match="negative"):
        evolve(Checked(1), value=-1)

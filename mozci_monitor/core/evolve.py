"""`dataclasses.replace` for the frozen, slotted records the engine copies on every event.

`replace` gathers every field into keyword arguments and runs the generated `__init__`,
which sets each field through `object.__setattr__` (the frozen guard): about 16 µs for a
`Request` (26 fields) on the benchmark machine, and settling a batch makes one copy for
most of its events. A slot's own descriptor sets it without the guard, and one
`attrgetter` reads every field in C: about half the cost, for the same new object.

Only for classes where that is the same thing: frozen, slotted, every field set by
`__init__` and no `__post_init__`; anything else is handed to `replace`.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Copier = tuple[Callable[[Any], tuple[Any, ...]], tuple[Callable[[Any, Any], None], ...]]
_Setters = dict[str, Callable[[Any, Any], None]]
_PLANS: dict[type, tuple[_Copier, _Setters] | None] = {}


def evolve(record: T, /, **changes: Any) -> T:
    """A copy of `record` with `changes`, as `dataclasses.replace(record, **changes)`."""
    cls = type(record)
    plan = _PLANS.get(cls, ...)
    if plan is ...:
        plan = _PLANS[cls] = _plan(cls)
    if plan is None:
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    (read_all, setters), by_name = plan
    new = object.__new__(cls)
    for set_field, value in zip(setters, read_all(record), strict=True):
        set_field(new, value)
    for name, value in changes.items():
        set_named = by_name.get(name)
        if set_named is None:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        set_named(new, value)
    return new


def _plan(cls: type) -> tuple[_Copier, _Setters] | None:
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        return None
    if hasattr(cls, "__post_init__"):
        return None
    fields = dataclasses.fields(cls)
    if not fields or any(not field.init for field in fields):
        return None
    names = tuple(field.name for field in fields)
    if set(names) != set(cls.__dict__["__slots__"]):
        return None
    setters = tuple(cls.__dict__[name].__set__ for name in names)
    getter = operator.attrgetter(*names)
    read_all: Callable[[Any], tuple[Any, ...]] = (
        getter if len(names) > 1 else lambda record: (getter(record),)  # one name: no tuple
    )
    return (read_all, setters), dict(zip(names, setters, strict=True))

"""Campaign submissions as typed models generated from the kinds' registry.

The CLI and the API accept and refuse the same inputs because both go through
`parse_submission`: one msgspec Struct per kind, built from the kind's parameters (types,
defaults, bounds and patterns as the registry states them), a union tagged by ``kind``, and
`msgspec.convert` to check a document against it. The OpenAPI schemas are generated from
the same Structs. Errors name the field at fault (``times: must be an integer from 1 to
100``), so a client or a person at a terminal can point at what to fix.

Users' regular expressions (fill's `include` / `exclude`) are compiled with RE2, whose
matching time is linear in the input: a pattern such as ``^([\\w/-]|[\\w/-])*!`` cannot
freeze the event loop. What RE2 cannot compile is refused here, naming the field.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import msgspec

from mozci_monitor.core.campaign import CampaignKind
from mozci_monitor.core.errors import PatternRefused, SubmissionError
from mozci_monitor.core.kinds import REGISTRY, AnyParams, KindSpec, Param
from mozci_monitor.patterns import UserPattern, compile_pattern

__all__ = [
    "UserPattern",
    "compile_user_pattern",
    "parse_submission",
    "schema_components",
    "schema_name",
]


def compile_user_pattern(pattern: str, field: str = "include") -> UserPattern:
    """A user's regular expression compiled by RE2 (linear time), or SubmissionError naming it."""
    try:
        return compile_pattern(pattern)
    except PatternRefused as refused:
        raise SubmissionError(f"{field}: {refused}", field=field) from None


def parse_submission(document: object) -> AnyParams:
    """A submission document (JSON object, or the CLI's options) → typed parameters."""
    if not isinstance(document, Mapping):
        raise SubmissionError("body must be a JSON object")
    kind = _kind(document.get("kind"))
    spec = REGISTRY[kind]
    try:
        model = msgspec.convert(dict(document), _models()[kind], strict=True)
    except msgspec.ValidationError as error:
        raise _refusal(spec, str(error)) from None
    values = {
        name: (None if value is msgspec.UNSET else value)
        for name, value in msgspec.structs.asdict(model).items()
    }
    params: AnyParams = spec.params(**values)  # type: ignore[assignment,arg-type]
    for name, param in spec.param_fields():
        if param.user_regex:
            for pattern in getattr(params, name):
                compile_user_pattern(pattern, name)
    params.check()
    return params


def schema_name(kind: CampaignKind) -> str:
    return "".join(part.title() for part in kind.value.split("-")) + "Submission"


def schema_components() -> dict[str, Any]:
    """OpenAPI 3.0 schemas: one per kind, and ``Submission``, their union on ``kind``."""
    (union,), components = msgspec.json.schema_components(
        [_union()], ref_template="#/components/schemas/{name}"
    )
    schemas = {name: _openapi_30(schema) for name, schema in components.items()}
    for kind, spec in REGISTRY.items():
        schema = schemas[schema_name(kind)]
        schema.pop("title", None)
        schema["description"] = spec.summary
        schema["properties"]["kind"] = {"type": "string", "enum": [kind.value]}
        exclusive: list[dict[str, Any]] = []
        for name, param in spec.param_fields():
            if param.user_regex:
                schema["properties"][name]["items"]["format"] = "regex"
            if param.excludes is not None and name < param.excludes:
                exclusive.append({"required": [name, param.excludes]})
        if exclusive:
            schema["not"] = {"anyOf": exclusive}
    schemas["Submission"] = {
        "description": (
            "A campaign to start; `kind` says which. A daemon that cannot start a kind"
            " (e.g. no sources configured to plan it) answers 422."
        ),
        "oneOf": union["anyOf"],
        "discriminator": union["discriminator"],
    }
    return schemas


# -- the models ------------------------------------------------------------------------------


@cache
def _models() -> dict[CampaignKind, type[msgspec.Struct]]:
    return {kind: _model(spec) for kind, spec in REGISTRY.items()}


def _union() -> Any:
    return Union[tuple(_models().values())]  # noqa: UP007 - built at run time


def _model(spec: KindSpec) -> type[msgspec.Struct]:
    hints = get_type_hints(spec.params)
    definitions: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for item in fields(spec.params):
        param: Param = item.metadata["param"]
        annotation = _annotation(hints[item.name], param)
        if item.default is MISSING:
            definitions.append((item.name, annotation))
        elif item.default is None and not param.nullable:
            # A field that may be left out must hold a real value when present: an explicit
            # null is refused rather than taken for "absent".
            definitions.append((item.name, annotation | msgspec.UnsetType, msgspec.UNSET))
        else:
            definitions.append((item.name, annotation, item.default))
    return msgspec.defstruct(
        schema_name(spec.kind),
        definitions,
        kw_only=True,
        forbid_unknown_fields=True,
        tag_field="kind",
        tag=spec.name,
    )


def _annotation(hint: Any, param: Param) -> Any:
    """The msgspec type of a parameter: its Python type with the registry's bounds."""
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    if optional:
        (hint,) = (arg for arg in get_args(hint) if arg is not type(None))
    described = msgspec.Meta(description=param.help)
    if hint is bool:
        annotation: Any = Annotated[bool, described]
    elif hint is int:
        annotation = Annotated[int, msgspec.Meta(ge=param.minimum, le=param.maximum), described]
    elif hint is str:
        annotation = Annotated[str, _string_meta(param), described]
    elif get_origin(hint) is tuple:
        annotation = Annotated[
            tuple[Annotated[str, _string_meta(param)], ...],
            msgspec.Meta(max_length=param.max_items),
            described,
        ]
    else:  # pragma: no cover - a new parameter type needs a line here
        raise TypeError(f"no model for parameters of type {hint!r}")
    return annotation | None if optional and param.nullable else annotation


def _string_meta(param: Param) -> msgspec.Meta:
    return msgspec.Meta(
        pattern=param.pattern, min_length=param.min_length, max_length=param.max_length
    )


# -- errors ----------------------------------------------------------------------------------

_AT = re.compile(r" - at `\$\.(?P<field>[A-Za-z_]+)(?P<item>\[)?")
_MISSING = re.compile(r"missing required field `(?P<field>[A-Za-z_]+)`")
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]*)`")


def _kind(value: object) -> CampaignKind:
    if value is None:
        raise SubmissionError("kind: required", field="kind")
    if isinstance(value, str) and value in CampaignKind._value2member_map_:
        return CampaignKind(value)
    kinds = ", ".join(kind.value for kind in REGISTRY)
    raise SubmissionError(f"kind: must be one of {kinds}", field="kind")


def _refusal(spec: KindSpec, message: str) -> SubmissionError:
    if match := _UNKNOWN.search(message):
        name = match["field"]
        return SubmissionError(
            f"{name}: unknown field for a {spec.name} campaign", field=name or None
        )
    if match := _MISSING.search(message):
        return SubmissionError(f"{match['field']}: required", field=match["field"])
    if match := _AT.search(message):
        name = match["field"]
        params = dict(spec.param_fields())
        if name in params:
            hint = get_type_hints(spec.params)[name]
            what = _expected_item(params[name]) if match["item"] else _expected(hint, params[name])
            return SubmissionError(f"{name}: {what}", field=name)
    return SubmissionError(message)


def _expected(hint: Any, param: Param) -> str:
    """What a parameter must be, in words (the same words for the CLI and the API)."""
    if param.minimum is not None or param.maximum is not None:
        return f"must be an integer from {param.minimum} to {param.maximum}"
    if param.max_items is not None:
        each = "regular expressions" if param.user_regex else "strings"
        return f"must be a list of at most {param.max_items} {each}"
    if param.pattern is not None:
        return f"must be {param.what}"
    if hint is bool:
        return "must be true or false"
    return "has the wrong type"


def _expected_item(param: Param) -> str:
    if param.pattern is not None:
        return f"each must be {param.what}"
    return f"each must be a string of {param.min_length or 0} to {param.max_length} characters"


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# -- OpenAPI 3.0 ---------------------------------------------------------------------------


def _openapi_30(schema: Any) -> Any:
    """JSON Schema as msgspec writes it → the OpenAPI 3.0 dialect (``nullable``)."""
    if isinstance(schema, list):
        return [_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _openapi_30(value) for key, value in schema.items()}
    choices: Sequence[Any] = converted.get("anyOf", ())
    if len(choices) == 2 and {"type": "null"} in choices:
        (other,) = (choice for choice in choices if choice != {"type": "null"})
        del converted["anyOf"]
        converted = {**other, **converted, "nullable": True}
    return converted

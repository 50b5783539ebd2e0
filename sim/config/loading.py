"""Strict YAML reading and one-line problem reports, shared by every config file.

Scenarios, comparison specs and sweep specs are read the same way: UTF-8 text, safe YAML
that refuses duplicate keys, dotted-key overrides, validation into frozen pydantic models,
and every problem found reported at once in one line of the form
``file: path.to[0].field: what was expected (found X); ...`` as
:class:`~sim.errors.BadScenario`.
"""

from __future__ import annotations

import copy
import difflib
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from sim.core import layout as L
from sim.errors import BadScenario

__all__ = [
    "CURRENCY_PATTERN",
    "NAME_PATTERN",
    "Float",
    "Int",
    "Loc",
    "NonNegativeFloat",
    "PositiveFloat",
    "PositiveInt",
    "Problem",
    "StrictLoader",
    "StrictModel",
    "fail",
    "not_a_parent",
    "one_line",
    "parse_yaml",
    "path_text",
    "problems_error",
    "read_text",
    "show",
    "unique_names",
    "validation_problems",
    "walk",
    "with_overrides",
]

NAME_PATTERN: Final = r"^[A-Za-z0-9_.-]*$"
CURRENCY_PATTERN: Final = rf"^[A-Z][A-Z0-9]{{0,{L.NAME_LEN - 2}}}$"

_PATTERN_TEXT: Final = {
    NAME_PATTERN: "letters, digits, '_', '.' or '-'",
    CURRENCY_PATTERN: f"an uppercase letter then up to {L.NAME_LEN - 2} uppercase letters or "
                      "digits",
}

Loc = tuple[int | str, ...]
Problem = tuple[Loc, str]


def _no_bool(kind: str, what: str) -> BeforeValidator:
    """YAML's ``yes``/``true`` would otherwise pass for 1 in a numeric field."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(kind, f"Input should be {what}")
        return value

    return BeforeValidator(check)


Float = Annotated[float, _no_bool("float_type", "a valid number")]
Int = Annotated[int, _no_bool("int_type", "a valid integer")]
# For Optional fields, whose bounds cannot sit on the field: a bound placed after the bool
# check comes out of the JSON Schema as a bare "gt"/"ge" that editors ignore; placed
# before it, as exclusiveMinimum/minimum.
PositiveInt = Annotated[int, Field(gt=0), _no_bool("int_type", "a valid integer")]
PositiveFloat = Annotated[float, Field(gt=0), _no_bool("float_type", "a valid number")]
NonNegativeFloat = Annotated[float, Field(ge=0), _no_bool("float_type", "a valid number")]


def fail(problems: list[Problem]) -> None:
    """Raise cross-field problems so the formatter can place each under its own field."""
    if problems:
        detail = "; ".join(f"{path_text(loc)}: {msg}" for loc, msg in problems)
        raise PydanticCustomError("scenario", "{detail}",
                                  {"detail": detail, "problems": tuple(problems)})


class StrictModel(BaseModel):
    """Base of every config model: unknown keys refused, frozen, finite numbers only."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def unique_names(names: list[str], what: str, field: str) -> None:
    """Each name used once: one problem at ``[i].name`` for every repeat, naming the first."""
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(((i, "name"), f"duplicate {what} '{name}' (also "
                                          f"{field}[{seen[name]}])"))
        seen.setdefault(name, i)
    fail(problems)


def not_a_parent(v: str) -> str:
    """A name that becomes a folder must not be '.' or '..'."""
    if v in (".", ".."):
        raise ValueError(f"must not be '{v}' (it names a folder)")
    return v


class StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys, which PyYAML would silently overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable; the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_text(path: Path, src: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadScenario(f"{src}: no such file") from None
    except IsADirectoryError:
        raise BadScenario(f"{src}: is a directory, expected a scenario YAML file") from None
    except PermissionError:
        raise BadScenario(f"{src}: cannot read: permission denied") from None
    except UnicodeDecodeError as e:
        raise BadScenario(f"{src}: not UTF-8 text (bad byte at offset {e.start})") from None
    except OSError as e:
        raise BadScenario(f"{src}: cannot read: {e.strerror or e}") from None


def parse_yaml(text: str, src: str) -> Any:
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: no object tags
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = e.problem or e.context or "syntax error"
        raise BadScenario(one_line(f"{src}: not valid YAML{where}: {what}")) from None
    except yaml.YAMLError as e:
        raise BadScenario(one_line(f"{src}: not valid YAML: {e}")) from None


def with_overrides(data: dict[Any, Any], overrides: Mapping[str, Any], src: str
                    ) -> dict[Any, Any]:
    """A copy of ``data`` with each override set; dotted keys reach into nested mappings."""
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = out
        for i, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[:i + 1])
                raise BadScenario(f"{src}: override {key}: {where} is not a mapping "
                                  f"(found {show(child)})")
            node = child
        node[last] = value
    return out


def one_line(text: str) -> str:
    return " ".join(text.split())


def path_text(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("["):
            out += str(part)
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _number(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def show(v: Any) -> str:
    """A found value as the user would write it in YAML, kept short."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _number(v)
    if isinstance(v, str):
        return repr(v if len(v) <= 40 else v[:37] + "...")
    if isinstance(v, Mapping):
        return "a mapping" if v else "an empty mapping"
    if isinstance(v, list | tuple):
        return f"a list of {len(v)}" if v else "an empty list"
    return f"a {type(v).__name__}"


def _unwrap(tp: Any) -> Any:
    """``X | None`` to ``X``."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def walk(model: type[BaseModel], loc: Loc) -> tuple[Any, list[int]]:
    """The annotation at ``loc`` below ``model`` (None if unknown) and a sort key for it."""
    tp: Any = model
    key: list[int] = []
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int) and get_origin(tp) is list:
            tp = get_args(tp)[0]
            key.append(part)
        elif isinstance(part, str) and isinstance(tp, type) and issubclass(tp, BaseModel) \
                and part in tp.model_fields:
            key.append(list(tp.model_fields).index(part))
            tp = tp.model_fields[part].annotation
        else:
            return None, [*key, 1 << 30]
    return _unwrap(tp), key


def _ctx_bound(v: Any) -> str:
    return _number(v) if isinstance(v, int | float) else str(v)


def _describe(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    """One pydantic error as 'what was expected (found X)'."""
    kind: str = err["type"]
    loc: Loc = tuple(err["loc"])
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    found = f" (found {show(err.get('input'))})"
    simple = {
        "int_type": "expected a whole number", "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "int_parsing_size": "expected a whole number of reasonable size",
        "float_type": "expected a number", "float_parsing": "expected a number",
        "finite_number": "must be a finite number",
        "bool_type": "expected true or false", "bool_parsing": "expected true or false",
        "string_type": "expected a string", "list_type": "expected a list",
        "dict_type": "expected a mapping", "model_type": "expected a mapping",
        "model_attributes_type": "expected a mapping",
        "invalid_key": "keys must be strings",
    }
    bounds = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
              "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        parent, _ = walk(model, loc[:-1])
        hint = ""
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
        return "unknown key" + hint
    if kind in simple:
        return simple[kind] + found
    if kind in bounds:
        name, op = bounds[kind]
        return f"must be {op} {_ctx_bound(ctx.get(name))}{found}"
    if kind == "literal_error":
        tp, _ = walk(model, loc)
        options = (", ".join(repr(a) for a in get_args(tp)) if get_origin(tp) is Literal
                   else str(ctx.get("expected")))
        return f"expected one of {options}{found}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return f"expected {_PATTERN_TEXT.get(pattern, 'a match for ' + pattern)}{found}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        most = "least" if kind == "too_short" else "most"
        items = "item" if n == 1 else "items"
        return f"must have at {most} {n} {items} (found {ctx.get('actual_length')})"
    if kind in ("string_too_short", "string_too_long"):
        n = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        most = "least" if kind == "string_too_short" else "most"
        return f"must have at {most} {n} characters{found}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return f"{err['msg']}{found}"


def validation_problems(e: ValidationError, model: type[BaseModel],
                        prefix: Loc = ()) -> list[Problem]:
    """Each pydantic error of ``e`` as (location, what was expected), under ``prefix``."""
    out: list[Problem] = []
    for err in e.errors(include_url=False):
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == "scenario" and "problems" in ctx:
            out.extend(((*prefix, *loc, *sub), msg) for sub, msg in ctx["problems"])
        else:
            out.append(((*prefix, *loc), _describe(err, model)))
    return out


def problems_error(src: str, model: type[BaseModel], found: list[Problem]) -> BadScenario:
    """One line naming ``src`` and every problem, in the order of the model's fields."""
    ordered = sorted(found, key=lambda p: walk(model, p[0])[1])
    return BadScenario(one_line(f"{src}: " + "; ".join(f"{path_text(loc)}: {msg}"
                                                       for loc, msg in ordered)))

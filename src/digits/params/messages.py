"""What a config file got wrong, in one line worded from its JSON Schema.

pydantic reports every problem of a file at once, in its own words; a user fixes
one at a time. `first_problem` picks the one a reader meets first, reading the
file top-down (at each level: an unknown key, then a missing key, then each
key's value in the schema's order) and says it in the file's terms: the key's
dotted path and what the schema allows there, the same rules an editor shows.

    unknown key train.learnig_rate; allowed keys in train: architecture, mlp, ...
    train.epochs must be an integer >= 1, got the string 'ten'
    train.learning_rate must be a number > 0 and <= 10, got the string '1e-3' (YAML reads
    it as text; write 0.001)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

Problem = Mapping[str, Any]  # one of pydantic's `ValidationError.errors()`

# pydantic's kinds of problem that mean "this key is not in the schema".
_UNKNOWN_KEY = {"unexpected_keyword_argument", "invalid_key", "extra_forbidden"}
_BOUNDS = {"exclusiveMinimum": ">", "minimum": ">=", "exclusiveMaximum": "<", "maximum": "<="}
_TYPES = {"integer": "an integer", "number": "a number", "string": "a string"}
_ITEMS = {"integer": "int", "number": "float", "string": "str"}


def first_problem(problems: Iterable[Problem], schema: dict[str, Any]) -> str:
    """One line for the problem a reader of the file meets first."""
    real = [problem for problem in problems if not _spurious(problem)]
    return _message(min(real, key=lambda problem: _position(schema, problem)), schema)


def _spurious(problem: Problem) -> bool:
    """pydantic counts a list's good items: a list with a bad item is not also too short."""
    if problem["type"] != "too_short":
        return False
    return len(problem["input"]) >= problem["ctx"]["min_length"]


def _position(schema: dict[str, Any], problem: Problem) -> list[tuple[int, Any]]:
    """Sorts problems in reading order: each step (rank, key index or name) down the path."""
    loc, kind = problem["loc"], problem["type"]
    steps: list[tuple[int, Any]] = []
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if last and kind in _UNKNOWN_KEY:
            steps.append((0, str(_unknown_key(problem))))
        elif isinstance(part, int):  # an item of a list
            steps.append((2, part))
        else:
            keys = list(_node(schema, loc[:depth])["properties"])
            steps.append((1 if last and kind == "missing" else 2, keys.index(part)))
    return steps


def _message(problem: Problem, schema: dict[str, Any]) -> str:
    loc, kind, value = problem["loc"], problem["type"], problem["input"]
    if kind in _UNKNOWN_KEY:
        where = _dotted(loc[:-1])
        key = f"{where}.{_unknown_key(problem)}" if where else str(_unknown_key(problem))
        allowed = ", ".join(_node(schema, loc[:-1])["properties"])
        return f"unknown key {key}; allowed keys in {where or 'top level'}: {allowed}"
    if kind == "missing":
        return f"missing key {_dotted(loc)}"
    node = _node(schema, loc)
    if "properties" in node:
        return f"{_dotted(loc) or 'top level'} must be a mapping of keys, got {_show(value)}"
    if isinstance(value, tuple):  # a list from the file, already turned into a tuple
        value = list(value)
    types = {branch.get("type") for branch in node.get("anyOf", [node])}
    if "number" in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # as it would be held
    hint = _number_as_text_hint(value) if types & {"integer", "number"} else ""
    return f"{_dotted(loc)} must be {_expected(node)}, got {_show(value)}{hint}"


def _unknown_key(problem: Problem) -> Any:
    """The key as written: pydantic's path turns a key that is not text (`True`) into `1`."""
    return problem["input"] if problem["type"] == "invalid_key" else problem["loc"][-1]


def _node(schema: dict[str, Any], loc: tuple) -> dict[str, Any]:
    """The schema of the value at `loc`, references followed."""
    node = schema
    for part in loc:
        node = node["items"] if isinstance(part, int) else node["properties"][part]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _expected(node: dict[str, Any]) -> str:
    """What the schema allows, in words: `an integer >= 1`, `one of adam, sgd`..."""
    if "anyOf" in node:
        (value,) = (branch for branch in node["anyOf"] if branch.get("type") != "null")
        return _expected(value) + " or null"
    if "enum" in node or "const" in node:
        return "one of " + ", ".join(node.get("enum", [node.get("const")]))
    if node["type"] == "array":
        item = _ITEMS[node["items"]["type"]]
        return f"a list of at least {node.get('minItems', 0)} {item} values"
    bounds = [f"{symbol} {_number(node[word])}" for word, symbol in _BOUNDS.items() if word in node]
    return " ".join([_TYPES[node["type"]], *([" and ".join(bounds)] if bounds else [])])


def _number(bound: float) -> float:
    """`0.0` as `0`: the bound of a number field is a float, written as people write it."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _dotted(loc: tuple) -> str:
    """`('train', 'convnet', 'conv_filters', 1)` -> `train.convnet.conv_filters[1]`."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]


def _number_as_text_hint(value: Any) -> str:
    """YAML reads `1e-3` (no dot) and quoted numbers as strings: say how to write the number."""
    try:
        number = float(value) if isinstance(value, str) else math.nan
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    written = int(number) if number.is_integer() else number
    return f" (YAML reads it as text; write {written!r})"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    return "null" if value is None else repr(value)

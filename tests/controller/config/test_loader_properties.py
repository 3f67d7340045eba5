"""Whatever a hall file contains, loading either succeeds or raises ConfigError.

Hand-edited files go wrong in ways no list of examples covers; a KeyError or TypeError leaking
out of the loader would crash ``hallctl check-config`` instead of telling staff what is wrong.
"""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config.errors import ConfigError, format_problems
from controller.config.loader import build_config, parse_config
from controller.config.model import HallConfig

SMALL_HALL = Path(__file__).resolve().parents[3] / "examples" / "small-hall.toml"
SMALL_TEXT = SMALL_HALL.read_text(encoding="utf-8")
SMALL_DATA = tomllib.loads(SMALL_TEXT)

# Values the file already uses make references and duplicates likely, not just type errors.
_FAMILIAR = ["A", "B", "C", "bus1", "w1-caller", "caller", "serial", "mqtt", "17:30", "", "0101"]

_leaf = st.one_of(
    st.sampled_from(_FAMILIAR),
    st.text(max_size=8),
    st.integers(min_value=-3, max_value=300),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.times(),
    st.dates(),
    st.datetimes(),
)
_value = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*_FAMILIAR, "id", "name", "service"]), inner, max_size=3)
    ),
    max_leaves=6,
)
_key = st.one_of(
    st.sampled_from(["id", "name", "prefix", "window", "bus", "address", "services", "kind"]),
    st.text(min_size=1, max_size=6),
)


def _containers(node: object) -> list[dict[str, Any] | list[Any]]:
    found: list[dict[str, Any] | list[Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for child in node.values():
            found.extend(_containers(child))
    elif isinstance(node, list):
        found.append(node)
        for child in node:
            found.extend(_containers(child))
    return found


def _mutate(data: st.DataObject, target: dict[str, Any] | list[Any]) -> None:
    op = data.draw(st.sampled_from(["set", "delete", "add"]))
    if isinstance(target, dict):
        if op == "add" or not target:
            target[data.draw(_key)] = data.draw(_value)
            return
        key = data.draw(st.sampled_from(sorted(target)))
        if op == "delete":
            del target[key]
        else:
            target[key] = data.draw(_value)
    else:
        if op == "add" or not target:
            target.append(data.draw(_value))
            return
        index = data.draw(st.integers(0, len(target) - 1))
        if op == "delete":
            del target[index]
        else:
            target[index] = data.draw(_value)


def _assert_clean_outcome(load: Any) -> None:
    try:
        result = load()
    except ConfigError as error:
        assert error.problems
        text = format_problems(error)
        assert len(text.splitlines()) == len(error.problems)  # one line per problem
    else:
        assert isinstance(result, HallConfig)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_data_only_raises_config_error(data: st.DataObject) -> None:
    config = copy.deepcopy(SMALL_DATA)
    for _ in range(data.draw(st.integers(1, 4))):
        _mutate(data, data.draw(st.sampled_from(_containers(config))))
    _assert_clean_outcome(lambda: build_config(config, "mutated.toml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_text_only_raises_config_error(data: st.DataObject) -> None:
    text = SMALL_TEXT
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        insert = data.draw(st.sampled_from(["", "=", '"', "[", "]]", "\n", "x", "1", "{", ","]))
        text = text[:start] + insert + text[end:]
    _assert_clean_outcome(lambda: parse_config(text, "mutated.toml"))


def test_unmutated_data_loads() -> None:
    """The property tests start from a valid file; make sure that stays true."""
    assert isinstance(build_config(copy.deepcopy(SMALL_DATA)), HallConfig)
    assert isinstance(date.today(), date) and datetime and time  # strategies' value types

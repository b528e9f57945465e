"""Label selectors as ``kubectl get -l`` takes them: checked once, then matched.

``--selector`` is checked when the command starts (a bad one is a usage
error, not a 400 from the API server halfway through), sent to the server
with the lists of ServiceEntries and WorkloadEntries, and matched here
against the Services ``diff`` plans: those are listed whole, because the
planner needs every Service and its pods whatever the selector says.

The grammar: comma-separated requirements ``key``, ``!key``, ``key=value``,
``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``. As in
Kubernetes, ``!=`` and ``notin`` also hold for objects without the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_KEY = (
    r"(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"(?P<negated>!?)\s*(?P<key>{_KEY})")
_EQUALITY = re.compile(rf"(?P<key>{_KEY})\s*(?P<operator>==?|!=)\s*(?P<value>{_VALUE})")
_SET = re.compile(
    rf"(?P<key>{_KEY})\s+(?P<operator>in|notin)\s*"
    rf"\((?P<values>\s*{_VALUE}(?:\s*,\s*{_VALUE})*\s*)\)"
)


class Operator(StrEnum):
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    IN = "in"
    NOT_IN = "notin"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One comma-separated part of a selector; ``key=v`` is ``key in (v)``."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def holds(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator is Operator.EXISTS:
            return value is not None
        if self.operator is Operator.DOES_NOT_EXIST:
            return value is None
        if self.operator is Operator.IN:
            return value in self.values
        return value not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.holds(labels) for requirement in self.requirements)


def parse_label_selector(selector: str) -> LabelSelector:
    """The selector's requirements; ValueError saying what is wrong and what is expected."""
    parts = _split_requirements(selector)
    if parts is None:
        raise ValueError("unbalanced parentheses; expected e.g. app=web,tier in (db,cache)")
    return LabelSelector(tuple(_requirement(part.strip()) for part in parts))


def label_selector_problem(selector: str) -> str | None:
    """Why ``selector`` is not a Kubernetes label selector, or None when it is one."""
    try:
        parse_label_selector(selector)
    except ValueError as error:
        return str(error)
    return None


def _requirement(text: str) -> Requirement:
    if found := _EXISTS.fullmatch(text):
        negated = bool(found["negated"])
        return Requirement(found["key"], Operator.DOES_NOT_EXIST if negated else Operator.EXISTS)
    if found := _EQUALITY.fullmatch(text):
        operator = Operator.NOT_IN if found["operator"] == "!=" else Operator.IN
        return Requirement(found["key"], operator, frozenset({found["value"]}))
    if found := _SET.fullmatch(text):
        values = frozenset(value.strip() for value in found["values"].split(","))
        return Requirement(found["key"], Operator(found["operator"]), values)
    raise ValueError(
        f"{text!r} is not a label requirement "
        "(key, !key, key=value, key!=value, key in (a,b), key notin (a,b))"
    )


def _split_requirements(selector: str) -> list[str] | None:
    """Split at commas outside parentheses; None when parentheses do not balance."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        return None
    parts.append(current)
    return parts

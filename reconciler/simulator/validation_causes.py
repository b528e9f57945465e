"""Field errors worded exactly as the real server words them, and the name rules.

The real server reports field errors as ``<path>: <Type>: <value>: <detail>``,
with the value printed the way Go's ``fmt`` prints it (``"x"`` for strings,
``[]string{"a"}`` for string lists, ``0x0`` for a zero uint64). The helpers here
build :class:`Cause` objects in that wording, and :func:`refuse` the 422 they
make up. The name rules (DNS-1123 labels and subdomains, qualified names,
label values, IANA service names, port numbers) return the real messages.
Every validator of the simulator (core kinds, Events, Istio's CRDs) uses them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.simulator.errors import ApiError, Cause, invalid
from reconciler.simulator.resources import CORE_EVENTS, EVENTS, ResourceKind


@dataclass(frozen=True, slots=True)
class GoLiteral:
    """A value already rendered the way Go prints it (``[]string{"a"}``, ``0x0``)."""

    text: str


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings the simulator sees."""
    return json.dumps(text, ensure_ascii=False)


def go_value(value: Any) -> str:
    if isinstance(value, GoLiteral):
        return value.text
    if value is None:
        return go_quote("null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[]string{" + ", ".join(go_quote(item) for item in value) + "}"
    return go_quote(json.dumps(value, separators=(",", ":")))


def required(path: str, detail: str = "") -> Cause:
    message = "Required value" + (f": {detail}" if detail else "")
    return Cause("FieldValueRequired", message, path)


def invalid_value(path: str | None, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}", path)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    listed = ", ".join(go_quote(item) for item in supported)
    return Cause(
        "FieldValueNotSupported",
        f"Unsupported value: {go_value(value)}: supported values: {listed}",
        path,
    )


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {go_value(value)}", path)


def too_many(path: str, actual: int, limit: int) -> Cause:
    return Cause("FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items", path)


def too_long(path: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be longer than {limit}", path)


def type_invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueTypeInvalid", f"Invalid value: {go_value(value)}: {detail}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


def immutable(path: str, value: Any) -> Cause:
    return invalid_value(path, value, "field is immutable")


def refuse(kind: ResourceKind, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid with the message the real server builds (identical lines shown once)."""
    reported = CORE_EVENTS if kind is EVENTS else kind
    qualified = f"{reported.kind}.{reported.group}" if reported.group else reported.kind
    rendered: list[str] = []
    for cause in causes:
        line = f"{cause.field}: {cause.message}" if cause.field else cause.message
        if line not in rendered:
            rendered.append(line)
    joined = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return invalid(reported, name, causes, message=f'{qualified} "{name}" is invalid: {joined}')


# --- names -----------------------------------------------------------------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_PART = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def dns1123_label(text: str) -> list[str]:
    errors = []
    if len(text) > 63:
        errors.append("must be no more than 63 characters")
    if not _matches(_DNS1123_LABEL, text):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{_DNS1123_LABEL}')"
        )
    return errors


def dns1123_subdomain(text: str) -> list[str]:
    errors = []
    if len(text) > 253:
        errors.append("must be no more than 253 characters")
    if not _matches(_DNS1123_SUBDOMAIN, text):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN}')"
        )
    return errors


def dns1035_label(text: str) -> list[str]:
    errors = []
    if len(text) > 63:
        errors.append("must be no more than 63 characters")
    if not _matches(_DNS1035_LABEL, text):
        errors.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            f"'my-name',  or 'abc-123', regex used for validation is '{_DNS1035_LABEL}')"
        )
    return errors


def qualified_name(text: str) -> list[str]:
    """Kubernetes' ``IsQualifiedName``: ``[prefix/]name`` as used by label keys."""
    parts = text.split("/")
    if len(parts) > 2:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
            f"or '123-abc', regex used for validation is '{_QUALIFIED_NAME_PART}') with an "
            "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors = []
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors += [f"prefix part {message}" for message in dns1123_subdomain(prefix)]
    else:
        name = parts[0]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _matches(_QUALIFIED_NAME_PART, name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED_NAME_PART}')"
        )
    return errors


def label_value(text: str) -> list[str]:
    errors = []
    if len(text) > 63:
        errors.append("must be no more than 63 characters")
    if not _matches(_LABEL_VALUE, text):
        errors.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            f"'{_LABEL_VALUE}')"
        )
    return errors


def ip_address(text: str) -> list[str]:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


PROTOCOLS = ("SCTP", "TCP", "UDP")
"""The port protocols Kubernetes supports."""


def port_number(value: Any) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def iana_port_name(name: str) -> list[str]:
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors

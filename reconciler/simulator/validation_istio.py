"""Istio's ServiceEntry and WorkloadEntry validation, as an API server without istiod applies it.

The recorded server (fidelity 08) enforced only the CRD: its OpenAPI schema
(types, enums, required fields, item and length limits, list-map keys) and its
CEL ``x-kubernetes-validations`` rules. The schema below restates Istio's CRD
(``manifests/charts/base/files/crd-all.gen.yaml`` at the recorded commit, the
same for v1, v1beta1 and v1alpha3) with each CEL rule written as a Python
predicate and its message. Errors are worded, ordered and joined as the real
server does; when a *blocking* schema error exists (required, too long, too
many, wrong type) the CEL rules are skipped and one ``<nil>`` cause says so.

istiod's validating webhook, which rejects what the CRD lets through (hostname
endpoints with ``STATIC`` resolution, endpoint ports naming no ServiceEntry
port, ...), did not run in the recording. :func:`webhook_refusal` implements its
rules for a simulator that wants them; the admission flag defaults to off.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from reconciler.simulator.errors import ApiError, Cause
from reconciler.simulator.resources import ResourceKind
from reconciler.simulator.validation_causes import (
    GoLiteral,
    duplicate,
    go_quote,
    invalid_value,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)

JsonObject = dict[str, Any]
Schema = Mapping[str, Any]
Rule = tuple[str, Callable[[Any], bool]]

_MAX_UINT32 = 4294967295
_PORT_NAME = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and 0 < value <= 65535


def _uds_absolute(address: str) -> bool:
    return not address.startswith("unix://") or address[7:8] in ("/", "@")


def _uds_not_dir(address: str) -> bool:
    return not address.startswith("unix://") or not address.endswith("/")


def _has_address(entry: JsonObject) -> bool:
    return "address" in entry or "network" in entry


def _uds_without_ports(entry: JsonObject) -> bool:
    return not str(entry.get("address", "")).startswith("unix://") or "ports" not in entry


def _port_names_valid(ports: JsonObject) -> bool:
    return all(len(key) < 63 and _PORT_NAME.fullmatch(key) for key in ports)


def _resolution(spec: JsonObject, default: str) -> str:
    return str(spec.get("resolution", default))


def _one_of_selector_or_endpoints(spec: JsonObject) -> bool:
    return ("workloadSelector" in spec) + ("endpoints" in spec) <= 1


def _cidr_only_when_static(spec: JsonObject) -> bool:
    has_cidr = any("/" in address for address in spec.get("addresses", []))
    return not (has_cidr and _resolution(spec, "NONE") not in ("STATIC", "NONE"))


def _none_without_endpoints(spec: JsonObject) -> bool:
    return _resolution(spec, "NONE") != "NONE" or "endpoints" not in spec


def _round_robin_single_endpoint(spec: JsonObject) -> bool:
    return _resolution(spec, "") != "DNS_ROUND_ROBIN" or len(spec.get("endpoints", [])) <= 1


def _unique_port_numbers(ports: list[Any]) -> bool:
    numbers = [port.get("number") for port in ports]
    return all(numbers.count(number) == 1 for number in numbers)


_PORT_RULE: Rule = ("port must be between 1-65535", _is_port)
_PORT_NUMBER: Schema = {
    "type": "integer",
    "minimum": 0,
    "maximum": _MAX_UINT32,
    "rules": (_PORT_RULE,),
}
_STRING: Schema = {"type": "string"}
_STRING_LIST: Schema = {"type": "array", "items": _STRING}

WORKLOAD: Schema = {
    "type": "object",
    "properties": {
        "address": {
            "type": "string",
            "maxLength": 256,
            "rules": (
                ("UDS must be an absolute path or abstract socket", _uds_absolute),
                ("UDS may not be a dir", _uds_not_dir),
            ),
        },
        "labels": {"type": "object", "maxProperties": 256, "additionalProperties": _STRING},
        "locality": {"type": "string", "maxLength": 2048},
        "network": {"type": "string", "maxLength": 2048},
        "ports": {
            "type": "object",
            "maxProperties": 128,
            "additionalProperties": _PORT_NUMBER,
            "rules": (("port name must be valid", _port_names_valid),),
        },
        "serviceAccount": {"type": "string", "maxLength": 253},
        "weight": {"type": "integer", "minimum": 0, "maximum": _MAX_UINT32},
    },
    "rules": (
        ("Address is required", _has_address),
        ("UDS may not include ports", _uds_without_ports),
    ),
}
"""A WorkloadEntry's spec, and the items of a ServiceEntry's ``endpoints``."""

_SERVICE_ENTRY_SPEC: Schema = {
    "type": "object",
    "required": ("hosts",),
    "properties": {
        "addresses": {
            "type": "array",
            "maxItems": 256,
            "items": {"type": "string", "maxLength": 64},
        },
        "endpoints": {"type": "array", "maxItems": 4096, "items": WORKLOAD},
        "exportTo": _STRING_LIST,
        "hosts": {
            "type": "array",
            "minItems": 1,
            "maxItems": 256,
            "items": {
                "type": "string",
                "rules": (("hostname cannot be wildcard", lambda host: host != "*"),),
            },
        },
        "location": {"type": "string", "enum": ("MESH_EXTERNAL", "MESH_INTERNAL")},
        "ports": {
            "type": "array",
            "maxItems": 256,
            "listMapKeys": ("name",),
            "items": {
                "type": "object",
                "required": ("number", "name"),
                "properties": {
                    "name": {"type": "string", "maxLength": 256},
                    "number": _PORT_NUMBER,
                    "protocol": {"type": "string", "maxLength": 256},
                    "targetPort": _PORT_NUMBER,
                },
            },
            "rules": (("port number cannot be duplicated", _unique_port_numbers),),
        },
        "resolution": {
            "type": "string",
            "enum": ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"),
        },
        "subjectAltNames": _STRING_LIST,
        "workloadSelector": {
            "type": "object",
            "properties": {
                "labels": {
                    "type": "object",
                    "maxProperties": 256,
                    "additionalProperties": {
                        "type": "string",
                        "maxLength": 63,
                        "rules": (
                            ("wildcard is not supported in selector", lambda v: "*" not in v),
                        ),
                    },
                }
            },
        },
    },
    "rules": (
        ("only one of WorkloadSelector or Endpoints can be set", _one_of_selector_or_endpoints),
        (
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
            _cidr_only_when_static,
        ),
        ("NONE mode cannot set endpoints", _none_without_endpoints),
        ("DNS_ROUND_ROBIN mode cannot have multiple endpoints", _round_robin_single_endpoint),
    ),
}

_INT_OR_STRING: Schema = {"type": "int-or-string"}
_STATUS: Schema = {
    "type": "object",
    "preserveUnknownFields": True,
    "properties": {
        "conditions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "lastProbeTime": _STRING,
                    "lastTransitionTime": _STRING,
                    "message": _STRING,
                    "observedGeneration": _INT_OR_STRING,
                    "reason": _STRING,
                    "status": _STRING,
                    "type": _STRING,
                },
            },
        },
        "observedGeneration": _INT_OR_STRING,
        "validationMessages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "documentationUrl": _STRING,
                    "level": {
                        "type": "string",
                        "enum": ("UNKNOWN", "ERROR", "WARNING", "INFO"),
                    },
                    "type": {
                        "type": "object",
                        "properties": {"code": _STRING, "name": _STRING},
                    },
                },
            },
        },
    },
}


def _root(spec: Schema) -> Schema:
    return {
        "type": "object",
        "required": ("spec",),
        "properties": {"spec": spec, "status": _STATUS},
    }


SCHEMAS: Mapping[str, Schema] = {
    "networking.istio.io/serviceentries": _root(_SERVICE_ENTRY_SPEC),
    "networking.istio.io/workloadentries": _root(WORKLOAD),
}

_OBJECT_META_FIELDS: Final = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


# --- pruning ---------------------------------------------------------------------------------


def prune_unknown_fields(kind: ResourceKind, obj: JsonObject) -> list[str]:
    """Remove fields the schema does not know (and ``null`` values); their paths, sorted."""
    schema = SCHEMAS.get(kind.key)
    pruned: list[str] = []
    for key in list(obj):
        if obj[key] is None and key not in ("apiVersion", "kind"):
            del obj[key]
        elif key == "metadata" and isinstance(obj[key], dict):
            for meta_key in list(obj[key]):
                if meta_key not in _OBJECT_META_FIELDS:
                    pruned.append(f"metadata.{meta_key}")
                    del obj[key][meta_key]
        elif key not in ("apiVersion", "kind", "metadata") and schema is not None:
            properties = schema["properties"]
            if key not in properties:
                pruned.append(key)
                del obj[key]
            else:
                obj[key] = _prune(obj[key], properties[key], key, pruned)
    return sorted(pruned)


def _prune(value: Any, schema: Schema, path: str, pruned: list[str]) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        keep_unknown = schema.get("preserveUnknownFields", False)
        result = {}
        for key, item in value.items():
            child = properties.get(key, extra)
            if item is None and not keep_unknown:
                if child is None:
                    pruned.append(f"{path}.{key}")
                continue
            if child is not None:
                result[key] = _prune(item, child, f"{path}.{key}", pruned)
            elif keep_unknown:
                result[key] = item
            else:
                pruned.append(f"{path}.{key}")
        return result
    if isinstance(value, list) and "items" in schema:
        return [
            _prune(item, schema["items"], f"{path}[{index}]", pruned)
            for index, item in enumerate(value)
        ]
    return value


# --- schema ----------------------------------------------------------------------------------

_BLOCKING = frozenset(
    {"FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany", "FieldValueTypeInvalid"}
)
SKIPPED_RULES = Cause(
    "FieldValueInvalid",
    'Invalid value: "null": some validation rules were not checked because the object was '
    "invalid; correct the existing errors to complete validation",
    "<nil>",
)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _has_type(value: Any, expected: str) -> bool:
    actual = _type_name(value)
    if expected == "int-or-string":
        return actual in ("integer", "string")
    if expected == "integer" and actual == "number":
        return float(value).is_integer()
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def schema_errors(value: Any, schema: Schema, path: str) -> list[Cause]:
    """The OpenAPI schema violations, in the order the real validator reports them."""
    expected = schema.get("type")
    if expected and not _has_type(value, expected):
        actual = _type_name(value)
        shown = "string" if expected == "int-or-string" else expected
        detail = f"{path} in body must be of type {shown}: {go_quote(actual)}"
        return [type_invalid(path, actual, detail)]
    causes: list[Cause] = []
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.append(too_long(path, schema["maxLength"]))
    if isinstance(value, int | float) and not isinstance(value, bool):
        causes += _number_errors(value, schema, path)
    if isinstance(value, list):
        causes += _array_errors(value, schema, path)
    if "enum" in schema and value not in schema["enum"]:
        causes.append(not_supported(path, value, schema["enum"]))
    if isinstance(value, dict):
        causes += _object_errors(value, schema, path)
    return causes


def _number_errors(value: float, schema: Schema, path: str) -> list[Cause]:
    causes = []
    if "minimum" in schema and value < schema["minimum"]:
        detail = f"{path} in body should be greater than or equal to {schema['minimum']}"
        causes.append(invalid_value(path, value, detail))
    if "maximum" in schema and value > schema["maximum"]:
        detail = f"{path} in body should be less than or equal to {schema['maximum']}"
        causes.append(invalid_value(path, value, detail))
    return causes


def _array_errors(value: list[Any], schema: Schema, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if "items" in schema:
        for index, item in enumerate(value):
            causes += schema_errors(item, schema["items"], f"{path}[{index}]")
    if "minItems" in schema and len(value) < schema["minItems"]:
        detail = f"{path} in body should have at least {schema['minItems']} items"
        causes.append(invalid_value(path, len(value), detail))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.append(too_many(path, len(value), schema["maxItems"]))
    return causes


def _object_errors(value: JsonObject, schema: Schema, path: str) -> list[Cause]:
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        return [too_many(path, len(value), schema["maxProperties"])]
    causes: list[Cause] = []
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if extra is not None:
        for key, item in value.items():
            if key not in properties:
                causes += schema_errors(item, extra, _join(path, key))
    causes += [
        required(_join(path, name)) for name in schema.get("required", ()) if name not in value
    ]
    for key, item in value.items():
        if key in properties:
            causes += schema_errors(item, properties[key], _join(path, key))
    return causes


def list_map_errors(value: Any, schema: Schema, path: str) -> list[Cause]:
    """Duplicate keys in ``x-kubernetes-list-type: map`` lists."""
    causes: list[Cause] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = schema.get("properties", {}).get(key)
            if child is not None:
                causes += list_map_errors(item, child, _join(path, key))
    elif isinstance(value, list) and "items" in schema:
        keys = schema.get("listMapKeys")
        seen: list[dict[str, Any]] = []
        for index, item in enumerate(value):
            if keys and isinstance(item, dict) and all(k in item for k in keys):
                identity = {k: item[k] for k in keys}
                if identity in seen:
                    causes.append(duplicate(f"{path}[{index}]", _go_map_literal(identity)))
                seen.append(identity)
            causes += list_map_errors(item, schema["items"], f"{path}[{index}]")
    return causes


def _go_map_literal(identity: dict[str, Any]) -> GoLiteral:
    entries = ", ".join(
        f"{go_quote(k)}:{go_quote(v) if isinstance(v, str) else v}" for k, v in identity.items()
    )
    return GoLiteral("map[string]interface {}{" + entries + "}")


# --- CEL rules -------------------------------------------------------------------------------


def rule_errors(value: Any, schema: Schema, path: str) -> list[Cause]:
    """The ``x-kubernetes-validations`` failures: a node's own rules first, then its children."""
    causes = []
    for message, holds in schema.get("rules", ()):
        if not holds(value):
            causes.append(invalid_value(path, _type_name(value), message))
    if isinstance(value, dict):
        extra = schema.get("additionalProperties")
        properties = schema.get("properties", {})
        if extra is not None:
            for key, item in value.items():
                if key not in properties:
                    causes += rule_errors(item, extra, f"{path}[{key}]")
        for key, item in value.items():
            if key in properties:
                causes += rule_errors(item, properties[key], _join(path, key))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            causes += rule_errors(item, schema["items"], f"{path}[{index}]")
    return causes


def validate_custom_resource(kind: ResourceKind, obj: JsonObject) -> list[Cause]:
    """Schema, list-map and CEL errors of ``obj`` (metadata is validated elsewhere)."""
    schema = SCHEMAS.get(kind.key)
    if schema is None:
        return []
    body = {key: value for key, value in obj.items() if key in ("spec", "status")}
    causes = schema_errors(body, schema, "")
    causes += list_map_errors(body, schema, "")
    if any(cause.reason in _BLOCKING for cause in causes):
        return [*causes, SKIPPED_RULES]
    return causes + rule_errors(body, schema, "")


def wrong_kind(kind: ResourceKind, obj: JsonObject) -> ApiError | None:
    """422 for a body whose ``kind`` is not the endpoint's, worded with the body's kind."""
    body_kind = obj.get("kind")
    if body_kind == kind.kind:
        return None
    name = str((obj.get("metadata") or {}).get("name", ""))
    cause = invalid_value("kind", body_kind or "", f"must be {kind.kind}")
    return ApiError(
        422,
        "Invalid",
        f'{body_kind}.{kind.group} "{name}" is invalid: kind: {cause.message}',
        details={"name": name, "group": kind.group, "kind": body_kind},
        causes=[cause],
    )


# --- istiod's webhook ------------------------------------------------------------------------


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _workload_errors(entry: JsonObject, service_ports: set[str] | None) -> list[str]:
    errors: list[str] = []
    address = str(entry.get("address", ""))
    if not address:
        if not entry.get("network"):
            return ["address is required"]
    elif address.startswith("unix://"):
        if entry.get("ports"):
            errors.append(f"unix endpoint {address} must not include ports")
    elif not _is_ip(address) and service_ports is not None:
        errors.append(f"endpoint address {go_quote(address)} is not a valid IP address")
    for name, port in (entry.get("ports") or {}).items():
        if service_ports is not None and name not in service_ports:
            errors.append(f"endpoint port {port} is not defined by the service entry")
    return errors


def _service_entry_errors(spec: JsonObject) -> list[str]:
    errors: list[str] = []
    if "workloadSelector" in spec and "endpoints" in spec:
        errors.append("only one of WorkloadSelector or Endpoints is allowed in Service Entry")
    hosts = spec.get("hosts") or []
    if not hosts:
        errors.append("service entry must have at least one host")
    errors += [f"invalid host {host}" for host in hosts if host == "*"]
    names: set[str] = set()
    numbers: set[int] = set()
    for port in spec.get("ports") or []:
        if port.get("name") in names:
            errors.append(
                f"service entry port name {go_quote(str(port.get('name')))} already defined"
            )
        if port.get("number") in numbers:
            errors.append(f"service entry port {port.get('number')} already defined")
        names.add(str(port.get("name")))
        numbers.add(port.get("number"))
    resolution = spec.get("resolution", "NONE")
    endpoints = spec.get("endpoints") or []
    if resolution == "NONE" and endpoints:
        errors.append("no endpoints should be provided for resolution type none")
    if resolution == "STATIC":
        for endpoint in endpoints:
            errors += _workload_errors(endpoint, names)
    if resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
        errors.append(f"there must only be 0 or 1 endpoint for resolution mode {resolution}")
    return errors


def webhook_refusal(kind: ResourceKind, obj: JsonObject) -> ApiError | None:
    """What istiod's validating webhook answers, or None when it admits the object."""
    spec = obj.get("spec") or {}
    if kind.kind == "ServiceEntry":
        errors = _service_entry_errors(spec)
    else:
        errors = _workload_errors(spec, None)
    if not errors:
        return None
    if len(errors) == 1:
        detail = errors[0]
    else:
        points = "\n\t".join(f"* {error}" for error in errors)
        detail = f"{len(errors)} errors occurred:\n\t{points}\n\n"
    return ApiError(
        400,
        "",
        'admission webhook "validation.istio.io" denied the request: '
        f"configuration is invalid: {detail}",
    )

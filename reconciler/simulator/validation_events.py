"""Validation of Events, both APIs over one store, worded as the real server words it.

core/v1 is lax unless ``eventTime`` is set (no reason, a type ``Info``, no
source: all accepted), but it insists that ``involvedObject`` is in the Event's
namespace. events.k8s.io/v1 requires ``eventTime``, ``reportingController``,
``reportingInstance``, ``action`` and ``reason``, restricts ``type`` and
accepts a ``regarding`` in another namespace. Errors name Kubernetes' internal
fields (``message`` for a too long ``note``), as the real server does
(fidelity 11, README surprise 15).
"""

from __future__ import annotations

from typing import Any

from reconciler.simulator.errors import Cause
from reconciler.simulator.resources import EVENTS, ResourceKind
from reconciler.simulator.serialization import events_to_core
from reconciler.simulator.validation_causes import (
    dns1123_subdomain,
    immutable,
    invalid_value,
    qualified_name,
    required,
)
from reconciler.simulator.validation_meta import validate_object_meta

JsonObject = dict[str, Any]

_EVENT_LIMITS = (("reportingInstance", 128), ("action", 128), ("reason", 128))


def _event_view(kind: ResourceKind, event: JsonObject) -> JsonObject:
    """An Event in Kubernetes' internal field names, whichever API wrote it.

    An events.k8s.io Event is first mapped to the core/v1 names the one shared
    store uses (the same mapping the server applies when it stores it).
    """
    if kind is EVENTS:
        event = events_to_core(event)
    namespace = (event.get("metadata") or {}).get("namespace") or ""
    return {
        "namespace": namespace,
        "involvedObject": event.get("involvedObject") or {},
        "reportingController": event.get("reportingComponent") or "",
        "reportingInstance": event.get("reportingInstance") or "",
        "action": event.get("action") or "",
        "reason": event.get("reason") or "",
        "message": event.get("message") or "",
        "type": event.get("type") or "",
        "eventTime": event.get("eventTime"),
        "firstTimestamp": event.get("firstTimestamp"),
        "lastTimestamp": event.get("lastTimestamp"),
        "count": event.get("count") or 0,
        "source": event.get("source") or {},
        "series": event.get("series"),
        "related": event.get("related"),
    }


def _legacy_event_causes(view: JsonObject, *, controller_field: str) -> list[Cause]:
    causes: list[Cause] = []
    involved_namespace = view["involvedObject"].get("namespace") or ""
    namespace = view["namespace"]
    mismatch = invalid_value(
        "involvedObject.namespace", involved_namespace, "does not match event.namespace"
    )
    if not view["eventTime"]:
        if not involved_namespace:
            if namespace not in ("", "default"):
                causes.append(mismatch)
        elif namespace != involved_namespace:
            causes.append(mismatch)
    else:
        if not involved_namespace and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        controller = view["reportingController"]
        if not controller:
            causes.append(required(controller_field))
        causes += [
            invalid_value(controller_field, controller, m) for m in qualified_name(controller)
        ]
        for name, limit in _EVENT_LIMITS:
            if not view[name]:
                causes.append(required(name))
            if len(view[name]) > limit:
                causes.append(invalid_value(name, "", f"can have at most {limit} characters"))
        if len(view["message"]) > 1024:
            causes.append(invalid_value("message", "", "can have at most 1024 characters"))
    causes += [invalid_value("namespace", namespace, m) for m in dns1123_subdomain(namespace)]
    return causes


def validate_event(kind: ResourceKind, event: JsonObject, old: JsonObject | None) -> list[Cause]:
    """``ValidateEventCreate`` and ``...Update``: lax for core/v1, strict for events.k8s.io."""
    view = _event_view(kind, event)
    controller_field = "reportingController" if kind is EVENTS else "reportingComponent"
    causes = _legacy_event_causes(view, controller_field=controller_field)
    if kind is not EVENTS:
        return causes
    if old is None:
        causes += validate_object_meta(event, namespaced=True)
    causes += _event_series(view, old and _event_view(kind, old))
    if old is not None:
        return causes + _event_immutables(view, _event_view(kind, old))
    if not view["eventTime"]:
        causes.append(required("eventTime"))
    if view["type"] not in ("Normal", "Warning"):
        causes.append(invalid_value("type", "", f"has invalid value: {view['type']}"))
    for name, shown in (
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ):
        if view[name]:
            causes.append(invalid_value(shown, "", "needs to be unset"))
    if view["source"].get("component") or view["source"].get("host"):
        causes.append(invalid_value("deprecatedSource", "", "needs to be unset"))
    return causes


def _event_series(view: JsonObject, old_view: JsonObject | None) -> list[Cause]:
    series = view["series"]
    if series is None or (old_view is not None and series == old_view["series"]):
        return []
    causes = []
    if (series.get("count") or 0) < 2:
        causes.append(invalid_value("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(required("series.lastObservedTime"))
    return causes


def _event_immutables(view: JsonObject, old_view: JsonObject) -> list[Cause]:
    names = (
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "action",
        "related",
        "reportingController",
        "reportingInstance",
        "type",
    )
    return [immutable(name, view[name]) for name in names if view[name] != old_view[name]]

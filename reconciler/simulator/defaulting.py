"""What the real server fills in, in the three places it does so.

1. *Decoding* (:func:`decode`): ``null`` fields vanish, unknown fields are pruned
   (custom resources; one warning each, or 400 with ``fieldValidation=Strict``)
   and time values are parsed with Go's layouts (a MicroTime needs exactly six
   fractional digits; offsets become ``Z``).
2. *Scheme defaults* (:func:`apply_scheme_defaults`): the ``SetDefaults_*``
   functions of the built-in types plus the zero values Go always serialises
   (``resources: {}``, ``lastProbeTime: null``). These run before field
   ownership is computed, so they belong to the writer (``f:sessionAffinity``).
3. *Admission and registry* (:func:`admit_pod`, :func:`prepare_service`,
   :func:`prepare_namespace`): values set after ownership is computed, owned by
   nobody: allocated cluster IPs and IP families, a Pod's service account volume,
   tolerations and priority, a Namespace's ``kubernetes`` finalizer, statuses.

The cluster is IPv4-primary and IPv6-capable when the :class:`IpAllocator` has an
IPv6 range (the default): ``PreferDualStack``/``RequireDualStack`` get two
families and two cluster IPs. The recorded cluster was single-stack; a
single-stack allocator reproduces it, including the 422 for ``RequireDualStack``.
"""

from __future__ import annotations

import copy
import random
from calendar import monthrange
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from reconciler.simulator import validation_istio
from reconciler.simulator.errors import ApiError, Cause
from reconciler.simulator.resources import ResourceKind
from reconciler.simulator.validation_causes import GoLiteral, go_quote, invalid_value

if TYPE_CHECKING:
    from reconciler.simulator.admission import IpAllocator

JsonObject = dict[str, Any]


# --- Go time layouts -------------------------------------------------------------------------

MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
SECONDS_LAYOUT = "2006-01-02T15:04:05Z07:00"


class GoTimeError(ValueError):
    """A time string Go's ``time.Parse`` refuses, with Go's message."""


class _Cursor:
    def __init__(self, value: str, layout: str) -> None:
        self.value = value
        self.layout = layout
        self.rest = value

    def fail(self, element: str, rest: str | None = None) -> GoTimeError:
        remaining = self.rest if rest is None else rest
        return GoTimeError(
            f"parsing time {go_quote(self.value)} as {go_quote(self.layout)}: "
            f"cannot parse {go_quote(remaining)} as {go_quote(element)}"
        )

    def out_of_range(self, what: str) -> GoTimeError:
        return GoTimeError(f"parsing time {go_quote(self.value)}: {what} out of range")

    def literal(self, text: str) -> None:
        if not self.rest.startswith(text):
            raise self.fail(text)
        self.rest = self.rest[len(text) :]

    def number(self, element: str, *, fixed: bool, low: int, high: int, what: str) -> int:
        digits = self.rest[:2]
        if not digits[:1].isdigit():
            raise self.fail(element)
        if not digits[1:2].isdigit():
            if fixed:
                raise self.fail(element)
            digits = digits[:1]
        number = int(digits)
        self.rest = self.rest[len(digits) :]
        if not low <= number <= high:
            raise self.out_of_range(what)
        return number


def parse_go_time(value: str, *, micro: bool) -> datetime:
    """Go's ``time.Parse`` with ``RFC3339Micro`` (MicroTime) or ``RFC3339`` (Time)."""
    cursor = _Cursor(value, MICRO_LAYOUT if micro else SECONDS_LAYOUT)
    if len(cursor.rest) < 4 or not cursor.rest[:4].isdigit():
        raise cursor.fail("2006")
    year = int(cursor.rest[:4])
    cursor.rest = cursor.rest[4:]
    cursor.literal("-")
    month = cursor.number("01", fixed=True, low=1, high=12, what="month")
    cursor.literal("-")
    day = cursor.number("02", fixed=True, low=0, high=99, what="day")
    cursor.literal("T")
    hour = cursor.number("15", fixed=False, low=0, high=23, what="hour")
    cursor.literal(":")
    minute = cursor.number("04", fixed=True, low=0, high=59, what="minute")
    cursor.literal(":")
    second = cursor.number("05", fixed=True, low=0, high=59, what="second")
    microsecond = _fraction(cursor, micro=micro)
    offset = _zone(cursor)
    if cursor.rest:
        raise GoTimeError(f"parsing time {go_quote(value)}: extra text: {go_quote(cursor.rest)}")
    if not 1 <= day <= monthrange(year, month)[1]:
        raise cursor.out_of_range("day")
    moment = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=offset)
    return moment.astimezone(UTC)


def _fraction(cursor: _Cursor, *, micro: bool) -> int:
    rest = cursor.rest
    if micro:
        if len(rest) < 7 or rest[0] not in ".," or not rest[1:7].isdigit():
            raise cursor.fail(".000000")
        cursor.rest = rest[7:]
        return int(rest[1:7])
    if len(rest) >= 2 and rest[0] in ".," and rest[1].isdigit():
        end = 2
        while end < len(rest) and rest[end].isdigit():
            end += 1
        cursor.rest = rest[end:]
        return int(rest[1:end][:6].ljust(6, "0"))
    return 0


def _zone(cursor: _Cursor) -> timezone:
    rest = cursor.rest
    if rest.startswith("Z"):
        cursor.rest = rest[1:]
        return UTC
    if len(rest) < 6 or rest[3] != ":" or rest[0] not in "+-":
        raise cursor.fail("Z07:00")
    if not (rest[1:3].isdigit() and rest[4:6].isdigit()):
        raise cursor.fail("Z07:00")
    hours, minutes = int(rest[1:3]), int(rest[4:6])
    if hours > 24:
        raise cursor.out_of_range("time zone offset hour")
    if minutes > 60:
        raise cursor.out_of_range("time zone offset minute")
    cursor.rest = rest[6:]
    sign = -1 if rest[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_error(obj: Mapping[str, Any], kind: ResourceKind, detail: str) -> ApiError:
    """The 400 the decoder answers: ``Lease in version "v1" cannot be handled as a Lease: ...``."""
    version = str(obj.get("apiVersion") or kind.storage_version).rsplit("/", 1)[-1]
    return ApiError(
        400,
        "BadRequest",
        f'{kind.kind} in version "{version}" cannot be handled as a {kind.kind}: {detail}',
    )


# --- decoding --------------------------------------------------------------------------------


def drop_nulls(value: Any) -> Any:
    """What Go decoding does with ``null``: the field is as if never sent."""
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


_MICRO_TIMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "coordination.k8s.io/leases": (("spec", "acquireTime"), ("spec", "renewTime")),
    "events": (("eventTime",), ("series", "lastObservedTime")),
    "events.k8s.io/events": (("eventTime",), ("series", "lastObservedTime")),
}
_TIMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "events": (("firstTimestamp",), ("lastTimestamp",)),
    "events.k8s.io/events": (("deprecatedFirstTimestamp",), ("deprecatedLastTimestamp",)),
}
_CONDITION_TIMES = ("lastProbeTime", "lastTransitionTime", "lastHeartbeatTime", "lastUpdateTime")


def decode(kind: ResourceKind, obj: JsonObject, *, field_validation: str) -> list[str]:
    """Normalise ``obj`` in place as decoding would; returns the unknown-field warnings.

    Raises 400 (``... cannot be handled as a ...``) for a bad time or, with
    ``fieldValidation=Strict``, for unknown fields.
    """
    if kind.builtin:
        cleaned = drop_nulls(obj)
        obj.clear()
        obj.update(cleaned)
        unknown: list[str] = []
    else:
        unknown = validation_istio.prune_unknown_fields(kind, obj)
    if unknown and field_validation == "Strict":
        listed = ", ".join(f"unknown field {go_quote(path)}" for path in unknown)
        raise decode_error(obj, kind, f"strict decoding error: {listed}")
    _normalise_times(kind, obj)
    if field_validation == "Ignore":
        return []
    return [f"unknown field {go_quote(path)}" for path in unknown]


def _normalise_times(kind: ResourceKind, obj: JsonObject) -> None:
    for micro, table in ((True, _MICRO_TIMES), (False, _TIMES)):
        for path in table.get(kind.key, ()):
            _normalise_time_at(kind, obj, path, micro=micro)
    status = obj.get("status")
    if isinstance(status, dict) and isinstance(status.get("conditions"), list):
        for condition in status["conditions"]:
            for name in _CONDITION_TIMES:
                if isinstance(condition, dict):
                    _normalise_time_at(kind, condition, (name,), micro=False, root=obj)


def _normalise_time_at(
    kind: ResourceKind,
    obj: JsonObject,
    path: tuple[str, ...],
    *,
    micro: bool,
    root: JsonObject | None = None,
) -> None:
    parent: Any = obj
    for key in path[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or not isinstance(parent.get(path[-1]), str):
        return
    try:
        moment = parse_go_time(parent[path[-1]], micro=micro)
    except GoTimeError as error:
        raise decode_error(root or obj, kind, str(error)) from None
    parent[path[-1]] = format_micro_time(moment) if micro else format_time(moment)


# --- scheme defaults -------------------------------------------------------------------------


def apply_scheme_defaults(kind: ResourceKind, obj: JsonObject) -> None:
    """The built-in ``SetDefaults_*`` and always-serialised zero values (idempotent)."""
    defaulter = _SCHEME_DEFAULTS.get(kind.key)
    if defaulter is not None:
        defaulter(obj)


def _default_service(obj: JsonObject) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        client_ip.setdefault("timeoutSeconds", 10800)
    spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    service_type = spec["type"]
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if "service.beta.kubernetes.io/external-traffic" in annotations:
        return
    if service_type in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if service_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def _default_container(container: JsonObject) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = str(container.get("image", ""))
    untagged = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
    always = untagged or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if always else "IfNotPresent")
    resources = container.setdefault("resources", {})
    if resources.get("limits") and not resources.get("requests"):
        resources["requests"] = dict(resources["limits"])
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            for key, value in _PROBE_DEFAULTS.items():
                container[probe].setdefault(key, value)


def _default_pod(obj: JsonObject) -> None:
    spec = obj.setdefault("spec", {})
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            _default_container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    _default_conditions(obj, ("lastProbeTime", "lastTransitionTime"))


def _default_conditions(obj: JsonObject, times: tuple[str, ...]) -> None:
    status = obj.get("status")
    if isinstance(status, dict):
        for condition in status.get("conditions") or []:
            for name in times:
                condition.setdefault(name, None)


def _default_namespace(obj: JsonObject) -> None:
    metadata = obj.setdefault("metadata", {})
    if metadata.get("name"):
        labels = metadata.setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = metadata["name"]


def _default_node(obj: JsonObject) -> None:
    _default_conditions(obj, ("lastHeartbeatTime", "lastTransitionTime"))
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") and not status.get("allocatable"):
        status["allocatable"] = dict(status["capacity"])


def _default_endpoint_slice(obj: JsonObject) -> None:
    obj.setdefault("endpoints", None)
    obj.setdefault("ports", None)
    for port in obj.get("ports") or []:
        port.setdefault("name", "")
        port.setdefault("protocol", "TCP")


def _default_core_event(obj: JsonObject) -> None:
    obj.setdefault("involvedObject", {})
    obj.setdefault("source", {})
    for name in ("firstTimestamp", "lastTimestamp", "eventTime"):
        obj.setdefault(name, None)
    obj.setdefault("reportingComponent", "")
    obj.setdefault("reportingInstance", "")


def _default_events_event(obj: JsonObject) -> None:
    obj.setdefault("eventTime", None)
    obj.setdefault("regarding", {})
    obj.setdefault("deprecatedSource", {})
    obj.setdefault("deprecatedFirstTimestamp", None)
    obj.setdefault("deprecatedLastTimestamp", None)


_SCHEME_DEFAULTS: dict[str, Callable[[JsonObject], None]] = {
    "services": _default_service,
    "pods": _default_pod,
    "namespaces": _default_namespace,
    "nodes": _default_node,
    "discovery.k8s.io/endpointslices": _default_endpoint_slice,
    "events": _default_core_event,
    "events.k8s.io/events": _default_events_event,
}


def decoded_form(kind: ResourceKind, obj: JsonObject) -> JsonObject:
    """A copy of ``obj`` as the server sees it when it records field ownership."""
    form = copy.deepcopy(obj)
    try:
        decode(kind, form, field_validation="Ignore")
    except Exception:
        return form
    apply_scheme_defaults(kind, form)
    return form


# --- admission: pods -------------------------------------------------------------------------

_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def generated_suffix(length: int = 5) -> str:
    """The random suffix the server appends to generated names (``web-pgzf8``)."""
    return "".join(random.choices(_NAME_ALPHABET, k=length))


def admit_pod(pod: JsonObject) -> None:
    """ServiceAccount, DefaultTolerationSeconds and Priority admission for a new Pod."""
    spec = pod.setdefault("spec", {})
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account
    spec["serviceAccount"] = account
    if spec.get("automountServiceAccountToken") is not False:
        _mount_token(spec)
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(
            t.get("key") == key and t.get("effect") in (None, "", "NoExecute") for t in tolerations
        ):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _mount_token(spec: JsonObject) -> None:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    if any(
        mount.get("mountPath") == _TOKEN_PATH
        for container in containers
        for mount in container.get("volumeMounts") or []
    ):
        return
    volume = f"kube-api-access-{generated_suffix()}"
    spec.setdefault("volumes", []).insert(
        0,
        {
            "name": volume,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
                "defaultMode": 420,
            },
        },
    )
    for container in containers:
        container.setdefault("volumeMounts", []).append(
            {"name": volume, "readOnly": True, "mountPath": _TOKEN_PATH}
        )


def pod_qos_class(pod: JsonObject) -> str:
    """BestEffort without any request or limit, Guaranteed when limits equal requests."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    anything = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        tracked = {name for name in (*requests, *limits) if name in ("cpu", "memory")}
        anything = anything or bool(tracked)
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not anything:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# --- registry: namespaces and services ------------------------------------------------------


def prepare_namespace(namespace: JsonObject) -> None:
    finalizers = namespace.setdefault("spec", {}).setdefault("finalizers", [])
    if "kubernetes" not in finalizers:
        finalizers.append("kubernetes")
    namespace["status"] = {"phase": "Active"}


def _ip_list(values: list[str]) -> GoLiteral:
    return GoLiteral("[]string{" + ", ".join(go_quote(value) for value in values) + "}")


def prepare_service(
    service: JsonObject, old: JsonObject | None, ips: IpAllocator
) -> tuple[list[Cause], list[str]]:
    """Cluster IPs and IP families of a Service being written.

    Returns the refusals (422 causes) and the addresses newly allocated, which
    the caller releases if the write does not happen.
    """
    spec = service.setdefault("spec", {})
    if spec.get("type") == "ExternalName":
        for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(name, None)
        return [], []
    if old is None:
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
    else:
        _keep_allocated(spec, old.get("spec") or {})
    causes = _init_ip_families(spec, old, ips)
    if causes:
        return causes, []
    return _allocate(spec, old, ips)


def _keep_allocated(spec: JsonObject, old_spec: JsonObject) -> None:
    """``normalizeClusterIPs`` and ``patchAllocatedValues`` of the Service REST storage."""
    old_ips = list(old_spec.get("clusterIPs") or [])
    new_ips = list(spec.get("clusterIPs") or [])
    old_ip = old_spec.get("clusterIP", "")
    new_ip = spec.get("clusterIP", "")
    if old_ips and not new_ips and old_ip == new_ip:
        spec["clusterIPs"] = old_ips
    if old_ip != new_ip:
        if old_ip and not new_ip and new_ips == old_ips:
            spec.pop("clusterIPs", None)
        elif old_ips and new_ips and new_ips == old_ips:
            spec["clusterIPs"] = [new_ip, *new_ips[1:]]
    if old_spec.get("type") != "ExternalName":
        if not spec.get("clusterIP") and old_ip:
            spec["clusterIP"] = old_ip
        if not spec.get("clusterIPs") and old_ips:
            spec["clusterIPs"] = old_ips
        if "ipFamilyPolicy" not in spec and "ipFamilyPolicy" in old_spec:
            spec["ipFamilyPolicy"] = old_spec["ipFamilyPolicy"]
        if "ipFamilies" not in spec and "ipFamilies" in old_spec:
            spec["ipFamilies"] = list(old_spec["ipFamilies"])


def _init_ip_families(spec: JsonObject, old: JsonObject | None, ips: IpAllocator) -> list[Cause]:
    families = list(spec.get("ipFamilies") or [])
    addresses = list(spec.get("clusterIPs") or [])
    if addresses and addresses[0] != "None":
        for position, address in enumerate(addresses):
            family = ips.family_of(address)
            if family is not None and position >= len(families):
                families.append(family)
    headless = spec.get("clusterIP") == "None"
    policy = spec.get("ipFamilyPolicy")
    dual_capable = len(ips.families) > 1
    if policy is None:
        selectorless = not spec.get("selector")
        policy = "RequireDualStack" if headless and selectorless and dual_capable else "SingleStack"
    causes = []
    if policy == "RequireDualStack" and not dual_capable:
        causes.append(
            invalid_value(
                "spec.ipFamilyPolicy",
                policy,
                "this cluster is not configured for dual-stack services",
            )
        )
    for position, family in enumerate(families):
        if family in ("IPv4", "IPv6") and family not in ips.families:
            causes.append(
                invalid_value(
                    f"spec.ipFamilies[{position}]", family, "not configured on this cluster"
                )
            )
    if len(families) > 1 and policy == "SingleStack":
        causes.append(
            invalid_value(
                "spec.ipFamilyPolicy",
                policy,
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are "
                "specified",
            )
        )
    if causes:
        return causes
    if not families:
        families = [ips.families[0]]
    if policy != "SingleStack" and len(families) == 1 and dual_capable:
        families.append(next(f for f in ips.families if f != families[0]))
    if policy == "SingleStack":
        families = families[:1]
        if old is not None and len(addresses) > 1:
            spec["clusterIPs"] = addresses[:1]
    spec["ipFamilies"] = families
    spec["ipFamilyPolicy"] = policy
    return []


def _allocate(
    spec: JsonObject, old: JsonObject | None, ips: IpAllocator
) -> tuple[list[Cause], list[str]]:
    """Allocate or reserve the addresses a Service lacks; an update only adds a family."""
    if spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
        return [], []
    addresses = list(spec.get("clusterIPs") or [])
    first_new = len((old or {}).get("spec", {}).get("clusterIPs") or []) if old else 0
    allocated: list[str] = []
    for position, family in enumerate(spec["ipFamilies"]):
        if position < first_new:
            continue
        if position < len(addresses):
            address = addresses[position]
            problem = ips.reserve(address) if ips.family_of(address) else None
            if problem is not None:
                for done in allocated:
                    ips.release(done)
                detail = f"failed to allocate IP {address}: {problem}"
                return [invalid_value("spec.clusterIPs", _ip_list(addresses), detail)], []
            allocated.append(address)
        else:
            address = ips.allocate(family=family)
            addresses.append(address)
            allocated.append(address)
    if addresses:
        spec["clusterIPs"] = addresses
        spec["clusterIP"] = addresses[0]
    return [], allocated

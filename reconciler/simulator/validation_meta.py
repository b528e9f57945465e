"""Validation of ``metadata``, common to every kind, worded as the real server words it.

Names (by the kind's own rule), namespaces, labels, annotations (and their
total size), ownerReferences (at most one controller, every field required),
finalizers, and on update the fields that cannot change (name, namespace, uid,
creationTimestamp, ...).
"""

from __future__ import annotations

from typing import Any

from reconciler.simulator.errors import Cause
from reconciler.simulator.validation_causes import (
    GoLiteral,
    dns1123_label,
    dns1123_subdomain,
    forbidden,
    go_quote,
    go_value,
    immutable,
    invalid_value,
    label_value,
    qualified_name,
    required,
)

JsonObject = dict[str, Any]

_TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_labels(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (labels or {}).items():
        causes += [invalid_value(path, key, message) for message in qualified_name(key)]
        text = value if isinstance(value, str) else str(value)
        causes += [invalid_value(path, text, message) for message in label_value(text)]
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    total = 0
    for key, value in (annotations or {}).items():
        causes += [invalid_value(path, key, message) for message in qualified_name(key.lower())]
        total += len(key.encode()) + len(str(value).encode())  # bytes, as the real check
    if total > _TOTAL_ANNOTATION_SIZE:
        causes.append(
            Cause(
                "FieldValueTooLong",
                f"Too long: must have at most {_TOTAL_ANNOTATION_SIZE} bytes",
                path,
            )
        )
    return causes


def _owner_reference_literal(refs: list[Any]) -> GoLiteral:
    rendered = []
    for position, ref in enumerate(refs):
        fields = [
            f"{name}:{go_quote(str(ref.get(key, '')))}"
            for name, key in (("APIVersion", "apiVersion"), ("Kind", "kind"), ("Name", "name"))
        ]
        fields.append(f"UID:{go_quote(str(ref.get('uid', '')))}")
        for name, key in (
            ("Controller", "controller"),
            ("BlockOwnerDeletion", "blockOwnerDeletion"),
        ):
            pointer = f"0xc000{0x5A0 + position * 0x40 + (key == 'blockOwnerDeletion') * 8:06x}"
            fields.append(f"{name}:(*bool)({pointer if key in ref else 'nil'})")
        rendered.append("v1.OwnerReference{" + ", ".join(fields) + "}")
    return GoLiteral("[]v1.OwnerReference{" + ", ".join(rendered) + "}")


def validate_owner_references(refs: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    first_controller = ""
    for ref in refs or []:
        api_version = str(ref.get("apiVersion", ""))
        version = api_version.rsplit("/", 1)[-1]
        if not version:
            causes.append(
                invalid_value(f"{path}.apiVersion", api_version, "version must not be empty")
            )
        if not ref.get("kind"):
            causes.append(
                invalid_value(f"{path}.kind", ref.get("kind", ""), "kind must not be empty")
            )
        if not ref.get("name"):
            causes.append(
                invalid_value(f"{path}.name", ref.get("name", ""), "name must not be empty")
            )
        if not ref.get("uid"):
            causes.append(invalid_value(f"{path}.uid", ref.get("uid", ""), "uid must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                causes.append(
                    invalid_value(
                        path,
                        _owner_reference_literal(refs),
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return causes


def validate_finalizers(finalizers: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for finalizer in finalizers or []:
        causes += [invalid_value(path, finalizer, message) for message in qualified_name(finalizer)]
    return causes


def validate_object_meta(
    obj: JsonObject,
    *,
    namespaced: bool,
    name_rule: Any = dns1123_subdomain,
) -> list[Cause]:
    """Kubernetes' ``ValidateObjectMeta``: name, namespace, labels, annotations, owners."""
    meta = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = meta.get("name") or ""
    if meta.get("generateName") and not name:
        causes += [
            invalid_value("metadata.generateName", meta["generateName"], message)
            for message in name_rule(meta["generateName"].rstrip("-") or "a")
        ]
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    else:
        causes += [invalid_value("metadata.name", name, message) for message in name_rule(name)]
    namespace = meta.get("namespace") or ""
    if namespaced and not namespace:
        causes.append(required("metadata.namespace"))
    elif namespaced:
        causes += [
            invalid_value("metadata.namespace", namespace, message)
            for message in dns1123_label(namespace)
        ]
    elif namespace:
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(
            invalid_value("metadata.generation", generation, "must be greater than or equal to 0")
        )
    causes += validate_labels(meta.get("labels"), "metadata.labels")
    causes += validate_annotations(meta.get("annotations"), "metadata.annotations")
    causes += validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences")
    causes += validate_finalizers(meta.get("finalizers"), "metadata.finalizers")
    return causes


_IMMUTABLE_META = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def validate_object_meta_update(new: JsonObject, old: JsonObject) -> list[Cause]:
    """``ValidateObjectMetaUpdate`` without the resourceVersion check (the server does that)."""
    new_meta = new.get("metadata") or {}
    old_meta = old.get("metadata") or {}
    causes: list[Cause] = []
    if old_meta.get("deletionTimestamp"):
        added = sorted(
            set(new_meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        )
        if added:
            listed = go_value(added)
            causes.append(
                forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {listed}",
                )
            )
    if (new_meta.get("generation") or 0) < (old_meta.get("generation") or 0):
        causes.append(
            invalid_value(
                "metadata.generation", new_meta.get("generation") or 0, "must not be decremented"
            )
        )
    for key in _IMMUTABLE_META:
        if new_meta.get(key) != old_meta.get(key):
            causes.append(immutable(f"metadata.{key}", new_meta.get(key, "")))
    causes += validate_labels(new_meta.get("labels"), "metadata.labels")
    causes += validate_annotations(new_meta.get("annotations"), "metadata.annotations")
    causes += validate_owner_references(new_meta.get("ownerReferences"), "metadata.ownerReferences")
    return causes

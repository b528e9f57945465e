"""Paired-Service actions as the exact requests the API receives.

Create sends the whole twin (copied fields and marks, nothing the API fills
in); an update is one JSON merge patch carrying ``metadata.resourceVersion``
that touches only what differs, so labels and annotations users added never
appear in it; a delete carries uid and resourceVersion preconditions.
"""

from __future__ import annotations

import msgspec

from reconciler.api.client import Preconditions
from reconciler.applying.patches import (
    paired_service_body,
    paired_service_patch,
    paired_service_preconditions,
)
from reconciler.models.projections import OwnerReference, ServicePort
from reconciler.planning.pairing import EXPORT_TO_ANNOTATION
from reconciler.planning.plans import (
    CreatePairedService,
    DeletePairedService,
    UpdatePairedService,
)
from reconciler.planning.references import GRPC_SERVICE_ANNOTATION, SOURCE_ANNOTATION

from .builders import namespace
from .conftest import FakeView
from .pairing_builders import ASKS, GRPC, headless, pair, twin_of, with_meta, with_spec


def test_the_create_body_is_the_twin_with_its_marks_and_nothing_the_api_fills_in() -> None:
    source = headless(
        annotations={**ASKS, EXPORT_TO_ANNOTATION: "."},
        ports=(GRPC, ServicePort(name="", port=50051)),
        families=("IPv4", "IPv6"),
        policy="RequireDualStack",
        publish_not_ready_addresses=True,
    )
    (create,) = pair(FakeView([namespace(), source])).actions
    assert isinstance(create, CreatePairedService)

    assert paired_service_body(create) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web-grpc",
            "namespace": "prod",
            "labels": {"app.kubernetes.io/managed-by": "headless-reconciler"},
            "annotations": {SOURCE_ANNOTATION: "web", EXPORT_TO_ANNOTATION: "."},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": "web",
                    "uid": "uid-web",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web"},
            "ports": [
                {
                    "name": "grpc",
                    "port": 9090,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                },
                {"port": 50051, "protocol": "TCP"},
            ],
            "ipFamilies": ["IPv4", "IPv6"],
            "ipFamilyPolicy": "RequireDualStack",
            "internalTrafficPolicy": "Cluster",
        },
    }


def test_an_update_patches_only_what_differs_with_a_resource_version_precondition() -> None:
    source = headless(annotations=ASKS, ports=(GRPC,), selector={"app": "web", "track": "a"})
    twin = twin_of(source)
    drifted = with_spec(
        with_meta(
            twin,
            labels={**twin.metadata.labels, "team": "payments"},
            annotations={**twin.metadata.annotations, "note": "kept", EXPORT_TO_ANNOTATION: "*"},
        ),
        selector={"app": "web", "track": "b", "canary": "true"},
        ports=(),
    )
    (update,) = pair(FakeView([namespace(), source, drifted])).actions
    assert isinstance(update, UpdatePairedService)

    assert paired_service_patch(update) == {
        "metadata": {"resourceVersion": "21", "annotations": {EXPORT_TO_ANNOTATION: None}},
        "spec": {
            "selector": {"track": "a", "canary": None},
            "ports": [
                {
                    "name": "grpc",
                    "port": 9090,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                }
            ],
        },
    }


def test_a_restored_owner_reference_replaces_the_whole_list_keeping_other_owners() -> None:
    source = headless(annotations=ASKS)
    twin = twin_of(source)
    (ours,) = twin.metadata.owner_references
    other = OwnerReference(api_version="v1", kind="ConfigMap", name="cm", uid="uid-cm")
    weakened = msgspec.structs.replace(ours, block_owner_deletion=None)
    view = FakeView([namespace(), source, with_meta(twin, owner_references=(weakened, other))])
    (update,) = pair(view).actions
    assert isinstance(update, UpdatePairedService)

    patch = paired_service_patch(update)

    assert patch == {
        "metadata": {
            "resourceVersion": "21",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": "web",
                    "uid": "uid-web",
                    "controller": True,
                    "blockOwnerDeletion": True,
                },
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "uid-cm"},
            ],
        }
    }


def test_a_delete_is_preconditioned_on_uid_and_resource_version() -> None:
    twin = twin_of(headless(annotations=ASKS))
    view = FakeView([namespace(), headless(annotations={GRPC_SERVICE_ANNOTATION: "false"}), twin])
    (delete,) = pair(view).actions
    assert isinstance(delete, DeletePairedService)

    assert paired_service_preconditions(delete) == Preconditions(
        uid="uid-web-grpc", resource_version="21"
    )

"""Bytes on the wire: Go field order, sorted custom resources, versions, pretty, YAML, Table."""

from __future__ import annotations

import yaml

from reconciler.simulator.resources import SERVICES as SERVICE_KIND
from reconciler.simulator.simulator import Simulator

SVC = "/api/v1/namespaces/default/services"
SE = "/apis/networking.istio.io/{version}/namespaces/default/serviceentries"
TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


async def test_pretty_output_is_indented_by_two_spaces(http, sim: Simulator) -> None:
    reply = await http.get(SVC, query="pretty=true")
    assert reply.raw.decode() == (
        '{\n  "kind": "ServiceList",\n  "apiVersion": "v1",\n  "metadata": {\n'
        f'    "resourceVersion": "{sim.store.resource_version}"\n  }},\n  "items": []\n}}\n'
    )


async def test_istio_versions_share_one_storage(http, manifests) -> None:
    created = (await http.post(SE.format(version="v1"), manifests.service_entry("se"))).json()
    for version in ("v1beta1", "v1alpha3"):
        read = (await http.get(SE.format(version=version) + "/se")).json()
        assert read["apiVersion"] == f"networking.istio.io/{version}"
        assert {**read, "apiVersion": created["apiVersion"]} == created
    body = manifests.service_entry("old")
    body["apiVersion"] = "networking.istio.io/v1alpha3"
    assert (await http.post(SE.format(version="v1alpha3"), body)).status == 201
    listed = (await http.get(SE.format(version="v1"))).json()
    assert {item["apiVersion"] for item in listed["items"]} == {"networking.istio.io/v1"}


async def test_objects_written_to_the_store_come_out_in_go_order(http, sim: Simulator) -> None:
    sim.store.create(
        SERVICE_KIND,
        {
            "spec": {"selector": {"b": "2", "a": "1"}, "ports": [{"port": 80, "name": "http"}]},
            "metadata": {"labels": {"z": "1", "a": "2"}, "namespace": "default", "name": "direct"},
        },
    )
    raw = (await http.get(f"{SVC}/direct")).raw
    assert raw.startswith(
        b'{"kind":"Service","apiVersion":"v1","metadata":{"name":"direct","namespace":"default"'
    )
    assert b'"labels":{"a":"2","z":"1"}' in raw
    assert b'"spec":{"ports":[{"name":"http","port":80}],"selector":{"a":"1","b":"2"}}' in raw
    assert raw.endswith(b'"status":{"loadBalancer":{}}}\n')


async def test_times_are_stored_as_utc_seconds(http, manifests) -> None:
    await http.post("/api/v1/namespaces/default/pods", manifests.pod("web-0"))
    condition = {
        "type": "Ready",
        "status": "True",
        "lastTransitionTime": "2026-11-29T07:12:00.5+02:00",
    }
    reply = await http.patch(
        "/api/v1/namespaces/default/pods/web-0/status", {"status": {"conditions": [condition]}}
    )
    assert reply.json()["status"]["conditions"] == [
        {
            "type": "Ready",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": "2026-11-29T05:12:00Z",
        }
    ]


async def test_yaml_output_when_asked_for(http, manifests) -> None:
    await http.post(SVC, manifests.service("web"))
    reply = await http.get(f"{SVC}/web", accept="application/yaml")
    assert reply.content_type == "application/yaml"
    assert yaml.safe_load(reply.raw)["metadata"]["name"] == "web"


async def test_table_output_for_custom_resources(http, manifests) -> None:
    await http.post(SE.format(version="v1"), manifests.service_entry("se"))
    body = (await http.get(SE.format(version="v1"), accept=TABLE)).json()
    assert list(body) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert (body["kind"], body["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in body["columnDefinitions"]] == [
        "Name",
        "Hosts",
        "Location",
        "Resolution",
        "Age",
    ]
    assert body["columnDefinitions"][1] == {
        "name": "Hosts",
        "type": "string",
        "format": "",
        "description": "The hosts associated with the ServiceEntry",
        "priority": 0,
    }
    row = body["rows"][0]
    assert row["cells"][:4] == ["se", '["se.example.internal"]', "MESH_INTERNAL", "STATIC"]
    assert row["cells"][4].endswith("s")
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert list(row["object"]["metadata"])[:3] == ["name", "namespace", "uid"]


async def test_table_output_for_services(http, manifests) -> None:
    await http.post(SVC, manifests.service("web"))
    body = (await http.get(SVC, accept=TABLE)).json()
    assert [c["name"] for c in body["columnDefinitions"]][:5] == [
        "Name",
        "Type",
        "Cluster-IP",
        "External-IP",
        "Port(s)",
    ]
    assert body["rows"][0]["cells"][:5] == ["web", "ClusterIP", "None", "<none>", "80/TCP"]

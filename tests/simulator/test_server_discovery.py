"""Discovery documents, compared with what the real v1.28 server answered (fidelity 01)."""

from __future__ import annotations

from kubernetes_asyncio.client import ApiClient, ApisApi, CoreApi

from reconciler.simulator.simulator import Simulator

ISTIO_V1_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "networking.istio.io/v1",
    "resources": [
        {
            "name": "serviceentries",
            "singularName": "serviceentry",
            "namespaced": True,
            "kind": "ServiceEntry",
            "verbs": [
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ],
            "shortNames": ["se"],
            "categories": ["istio-io", "networking-istio-io"],
            "storageVersionHash": "uwV2awIxHZ8=",
        },
        {
            "name": "serviceentries/status",
            "singularName": "",
            "namespaced": True,
            "kind": "ServiceEntry",
            "verbs": ["get", "patch", "update"],
        },
        {
            "name": "workloadentries",
            "singularName": "workloadentry",
            "namespaced": True,
            "kind": "WorkloadEntry",
            "verbs": [
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ],
            "shortNames": ["we"],
            "categories": ["istio-io", "networking-istio-io"],
            "storageVersionHash": "TCCKGA06viw=",
        },
        {
            "name": "workloadentries/status",
            "singularName": "",
            "namespaced": True,
            "kind": "WorkloadEntry",
            "verbs": ["get", "patch", "update"],
        },
    ],
}


async def test_custom_resource_group_version_matches_the_real_server(http) -> None:
    for version in ("v1", "v1beta1", "v1alpha3"):
        reply = await http.get(f"/apis/networking.istio.io/{version}")
        expected = dict(ISTIO_V1_RESOURCES, groupVersion=f"networking.istio.io/{version}")
        assert reply.status == 200
        assert reply.json() == expected
        assert list(reply.json()) == list(expected)
        assert list(reply.json()["resources"][0]) == list(expected["resources"][0])


async def test_core_resource_list_has_no_api_version_and_lists_subresources(http) -> None:
    body = (await http.get("/api/v1")).json()
    assert list(body) == ["kind", "groupVersion", "resources"]
    by_name = {entry["name"]: entry for entry in body["resources"]}
    assert by_name["services"] == {
        "name": "services",
        "singularName": "service",
        "namespaced": True,
        "kind": "Service",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["svc"],
        "categories": ["all"],
        "storageVersionHash": "0/CO1lhkEBI=",
    }
    assert by_name["pods/status"] == {
        "name": "pods/status",
        "singularName": "",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get", "patch", "update"],
    }
    assert by_name["namespaces/finalize"]["verbs"] == ["update"]
    assert by_name["namespaces"]["verbs"] == [
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
    assert [entry["name"] for entry in body["resources"]] == sorted(by_name)


async def test_builtin_group_versions_carry_storage_version_hashes(http) -> None:
    slices = (await http.get("/apis/discovery.k8s.io/v1")).json()
    events = (await http.get("/apis/events.k8s.io/v1")).json()
    leases = (await http.get("/apis/coordination.k8s.io/v1")).json()
    assert slices["resources"] == [
        {
            "name": "endpointslices",
            "singularName": "endpointslice",
            "namespaced": True,
            "kind": "EndpointSlice",
            "verbs": [
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
            "storageVersionHash": "Nx3SIv6I0mE=",
        }
    ]
    assert events["resources"][0]["storageVersionHash"] == "r2yiGXH7wu8="
    assert events["resources"][0]["shortNames"] == ["ev"]
    assert leases["resources"][0]["storageVersionHash"] == "gqkMMb/YqFM="


async def test_group_list_prefers_istio_v1_and_lists_only_served_groups(http) -> None:
    body = (await http.get("/apis")).json()
    assert list(body) == ["kind", "apiVersion", "groups"]
    names = [group["name"] for group in body["groups"]]
    assert names == [
        "events.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "networking.istio.io",
    ]
    istio = (await http.get("/apis/networking.istio.io")).json()
    assert istio == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "networking.istio.io",
        "versions": [
            {"groupVersion": "networking.istio.io/v1", "version": "v1"},
            {"groupVersion": "networking.istio.io/v1beta1", "version": "v1beta1"},
            {"groupVersion": "networking.istio.io/v1alpha3", "version": "v1alpha3"},
        ],
        "preferredVersion": {"groupVersion": "networking.istio.io/v1", "version": "v1"},
    }
    assert body["groups"][3] == {k: istio[k] for k in ("name", "versions", "preferredVersion")}


async def test_unknown_group_version_is_a_plain_text_404(http) -> None:
    reply = await http.get("/apis/nonexistent.example.com/v1")
    assert reply.status == 404
    assert reply.content_type.startswith("text/plain")
    assert reply.raw == b"404 page not found\n"


async def test_api_and_version_documents(http, sim: Simulator) -> None:
    api = (await http.get("/api")).json()
    assert api == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": sim.url.removeprefix("http://")}
        ],
    }
    version = (await http.get("/version")).json()
    assert (version["major"], version["minor"], version["gitVersion"]) == ("1", "28", "v1.28.0")
    assert list(version) == [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ]


async def test_kubernetes_asyncio_reads_discovery(api: ApiClient) -> None:
    core = await CoreApi(api).get_api_versions()
    groups = await ApisApi(api).get_api_versions()
    assert core.versions == ["v1"]
    istio = next(g for g in groups.groups if g.name == "networking.istio.io")
    assert istio.preferred_version.version == "v1"

"""The targets (issue 8, SPEC section 8) judged against a result, and the result as Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

JsonObject = dict[str, Any]
Row = dict[str, Any]

TOOL_LABELS = {
    "project": "(a) project: watch, decode, cache, map to keys, queue",
    "project-watch": "(a') project watch layer only (HTTP, lines, msgspec)",
    "kubernetes-asyncio": "(b) kubernetes-asyncio Watch, generated models",
    "kopf": "(c) kopf 1.45, no-op on.event handler",
    "orjson": "(d) limit: same HTTP read, orjson.loads only",
}


def _row(
    target: str, layout: str, measured: str, met: bool | None, *, profile: bool = False
) -> Row:
    return {
        "target": target,
        "layout": layout,
        "measured": measured,
        "met": met,
        "profile": profile,
    }


def _rate(tools: JsonObject, tool: str) -> float | None:
    value = (tools.get(tool) or {}).get("events_per_second")
    return float(value) if value else None


def _ingest_rows(result: JsonObject) -> Iterator[Row]:
    for layout in result.get("ingest", []):
        tools = layout["tools"]
        name = f"{layout['endpoints_per_slice']} endpoints/slice"
        ours = _rate(tools, "project")
        for tool, factor, label in (
            ("kubernetes-asyncio", 25.0, "ingest (a) >= 25x (b) kubernetes-asyncio"),
            ("kopf", 10.0, "ingest (a) >= 10x (c) kopf"),
            ("orjson", 1.0, "ingest (a) >= (d) orjson.loads limit"),
        ):
            theirs = _rate(tools, tool)
            if ours is None or theirs is None:
                why = (tools.get(tool) or {}).get("error") or "not measured"
                yield _row(label, name, f"n/a ({why})", None, profile=True)
                continue
            ratio = ours / theirs
            yield _row(
                label,
                name,
                f"{ratio:.2f}x ({ours:,.0f} vs {theirs:,.0f} events/s)",
                ratio >= factor,
                profile=True,
            )


def _scale_rows(result: JsonObject) -> Iterator[Row]:
    scale = result.get("scale")
    if not scale:
        return
    world = scale["world"]
    layout = f"{world['headless_services']:,} Services, {world['stored']['endpoints']:,} endpoints"
    for name, section in (("controller", scale["cold_start"]), ("diff", scale["diff"])):
        seconds = section.get("to_first_full_plan_s", section.get("to_report_s"))
        yield _row(f"cold start ({name}) < 20 s", layout, f"{seconds:.1f} s", seconds < 20)
        peak = section["peak_rss_mib"]
        yield _row(f"cold start ({name}) peak RSS < 600 MiB", layout, f"{peak:.0f} MiB", peak < 600)
    convergence = scale["convergence"]
    latency = convergence["event_to_patch_acknowledged"]
    yield _row(
        "convergence p99 < 100 ms (slice event to patch acknowledged)",
        f"{convergence['restarts']} restarts, churn {convergence['churn_achieved_per_second']}/s",
        f"p99 {latency['p99_ms']} ms (p50 {latency['p50_ms']}, max {latency['max_ms']})",
        latency["p99_ms"] < 100,
    )
    steady = scale["steady_state"]
    yield _row(
        "0 writes when steady",
        f"{steady['quiet_seconds']:.0f} s quiet window",
        f"{steady['writes']} writes, {steady['cpu_seconds']} CPU s",
        steady["writes"] == 0,
    )
    rolling = scale["rolling_restart"]
    if "patches_to_service_entry" in rolling:
        yield _row(
            "rolling restart: patches per ServiceEntry <= pods restarted",
            f"{rolling['pods_restarted']} pods, {rolling['pod_start_seconds']} s per pod",
            f"{rolling['patches_to_service_entry']} patches",
            rolling["patches_to_service_entry"] <= rolling["pods_restarted"],
        )


def _memory_rows(result: JsonObject) -> Iterator[Row]:
    runs = (result.get("memory") or {}).get("runs", [])
    rss = {(r["endpoints"], r["per_slice"]): r for r in runs if r["mode"] == "rss"}
    for run in runs:
        if run["mode"] != "tracemalloc":
            continue
        key = (run["endpoints"], run["per_slice"])
        rss_text = f", RSS {rss[key]['bytes_per_endpoint']:.0f} B" if key in rss else ""
        yield _row(
            "< 400 B per cached endpoint (tracemalloc)",
            f"{run['endpoints']:,} endpoints, {run['per_slice']}/slice",
            f"{run['bytes_per_endpoint']:.0f} B{rss_text}",
            run["bytes_per_endpoint"] < 400,
        )


def targets(result: JsonObject) -> list[Row]:
    return [*_ingest_rows(result), *_scale_rows(result), *_memory_rows(result)]


# -- Markdown ------------------------------------------------------------------------------------


def _met(value: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[value]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _machine(result: JsonObject) -> list[str]:
    m = result["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items() if version)
    smoke = " (smoke run: figures mean nothing)" if result.get("smoke") else ""
    return [
        f"Run {result.get('started', '')}{smoke}"
        f" on {m['cpu']}, {m['cores_usable']} usable cores (shared), {m['memory_gib']} GiB,"
        f" {m['os']}, Python {m['python']}; {packages}; commit {m['commit']}.",
        "",
    ]


def _ingest(result: JsonObject) -> list[str]:
    lines = ["## 1. Watch ingest", ""]
    for layout in result.get("ingest", []):
        tools = layout["tools"]
        ours = _rate(tools, "project")
        lines.append(
            f"{layout['endpoints_per_slice']} endpoints per slice, {layout['slices']} slices "
            "(events/s, median of the runs):"
        )
        lines.append("")
        rows = []
        for tool, label in TOOL_LABELS.items():
            data = tools.get(tool) or {}
            rate = _rate(tools, tool)
            ratio = f"{ours / rate:.2f}x" if ours and rate else ""
            value = f"{rate:,.0f}" if rate else data.get("error", "n/a")
            runs = ", ".join(f"{run:,.0f}" for run in data.get("runs_events_per_second", []))
            rows.append([label, value, ratio, data.get("events", ""), runs])
        lines += _table(["consumer", "events/s", "(a) is", "events", "each run"], rows)
        memory = layout["in_memory"]
        lines += [
            f"Without a socket ({memory['events']} lines): orjson.loads "
            f"{memory['orjson_loads_per_second']:,.0f}/s, the project's decoder "
            f"{memory['project_decode_per_second']:,.0f}/s, the project's whole ingest step "
            "(decode, store, index, map, queue) "
            f"{memory['project_ingest_step_per_second']:,.0f}/s.",
            "",
        ]
    return lines


def _scale(result: JsonObject) -> list[str]:
    scale = result.get("scale")
    if not scale:
        return []
    world, cold, diff = scale["world"], scale["cold_start"], scale["diff"]
    stored = ", ".join(f"{count:,} {name}" for name, count in world["stored"].items())
    lines = [
        "## 2. Cold start",
        "",
        f"World: {stored}; seeded in {world['seed_seconds']} s, "
        f"{world['settling_writes']} writes to converge it before the run.",
        "",
    ]
    lines += _table(
        ["process", "caches synced", "first full plan / report", "peak RSS", "CPU s", "notes"],
        [
            [
                "controller (`run`)",
                f"{cold['to_caches_synced_s']} s",
                f"{cold['to_first_full_plan_s']} s",
                f"{cold['peak_rss_mib']} MiB",
                cold["cpu_seconds"],
                f"{cold['keys_planned']:,} keys planned, {cold['writes']} writes",
            ],
            [
                "`diff -A -o json`",
                "",
                f"{diff['to_report_s']} s",
                f"{diff['peak_rss_mib']} MiB",
                diff["cpu_seconds"],
                f"exit {diff['exit_code']}",
            ],
        ],
    )
    conv = scale["convergence"]
    lines += ["## 3. Convergence", ""]
    rows = []
    for name in (
        "event_to_patch_acknowledged",
        "pod_removed_to_patch",
        "pod_ready_to_patch",
        "event_to_controller_observed",
    ):
        s = conv[name]
        rows.append(
            [name.replace("_", " "), s["count"], s["p50_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"]]
        )
    lines.append(
        f"{conv['restarts']} restarts, one at a time, under {conv['churn_achieved_per_second']} "
        f"EndpointSlice updates/s of background churn ({conv['churn_events']} churn events):"
    )
    lines.append("")
    lines += _table(["latency (ms)", "n", "p50", "p90", "p99", "max"], rows)
    rolling = scale["rolling_restart"]
    if "patches_to_service_entry" in rolling:
        lines += [
            f"Rolling restart of a {rolling['pods_restarted']}-pod StatefulSet "
            f"({rolling['pod_start_seconds']} s from a pod's deletion to its replacement being "
            f"ready): {rolling['patches_to_service_entry']} patches to its ServiceEntry "
            f"({rolling['patches_per_pod']} per pod), converged "
            f"{rolling['converged_after_last_change_ms']} ms after the last slice change "
            f"({rolling['time_to_converge_s']} s in all).",
            "",
        ]
    steady = scale["steady_state"]
    resync = steady["resync"]
    lines += [
        "## 4. Steady state",
        "",
        f"{steady['quiet_seconds']:.0f} s quiet window: {steady['writes']} writes, "
        f"{steady['cpu_seconds']} CPU seconds, RSS {steady['rss_mib']} MiB. A full resync "
        f"({resync['keys']:,} keys) took {resync['wall_s']} s wall, {resync['cpu_s']} CPU s "
        f"({resync['us_per_key']} us per key).",
        "",
    ]
    return lines


def _memory(result: JsonObject) -> list[str]:
    runs = (result.get("memory") or {}).get("runs", [])
    if not runs:
        return []
    rows = [
        [
            f"{r['endpoints']:,}",
            r["per_slice"],
            r["slices"],
            r["mode"],
            f"{r['bytes'] / 2**20:.1f}",
            r["bytes_per_endpoint"],
        ]
        for r in runs
    ]
    return [
        "## 5. Memory",
        "",
        *_table(["endpoints", "per slice", "slices", "measured by", "MiB", "bytes/endpoint"], rows),
    ]


def markdown(result: JsonObject) -> str:
    lines = ["# Benchmark results", "", *_machine(result), "## Targets", ""]
    lines += _table(
        ["target", "where", "measured", ""],
        [
            [row["target"], row["layout"], row["measured"], _met(row["met"])]
            for row in result["targets"]
        ],
    )
    lines += _ingest(result) + _scale(result) + _memory(result)
    files = result.get("profile_files")
    if files:
        lines += ["Profiles of missed targets: " + ", ".join(f"[{f}]({f})" for f in files), ""]
    return "\n".join(lines)

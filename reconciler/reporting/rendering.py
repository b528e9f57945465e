"""How reports look: one line per action, unified diffs of YAML, JSON documents.

Text is for people: per object a header (kind, namespace/name, what and why),
then for objects that would change a unified diff of the YAML of the fields
that change (all of them, for a Service created or deleted), then the notes,
and one summary line. Colour is added only when asked (the command asks when
stdout is a terminal). An entry's header says what ``run`` logs for it, so
``diff`` and ``run --dry-run`` read alike.

JSON is for machines and is a documented, versioned interface (see
``docs/commands.md``): every key is always present, counts include zeros, and
the order of everything is fixed, so two runs over the same cluster print the
same bytes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson
import yaml

from reconciler.applying.messages import describe_changes
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import (
    Action,
    CreatePairedService,
    DeletePairedService,
    EndpointChange,
    Note,
    NoWrite,
    PairedServiceAction,
    SetWorkloadEntryHealth,
    UpdatePairedService,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
    WriteAction,
)
from reconciler.planning.settings import ALLOW_CROSS_NAMESPACE_FLAG
from reconciler.reporting.audit import (
    AuditReport,
    EntryAudit,
    Management,
    PodRef,
    Problem,
    unmanaged_stale_addresses,
)
from reconciler.reporting.diff import PLANNED_KINDS, DiffReport, ObjectDiff, Request
from reconciler.reporting.scope import Scope

JsonObject = dict[str, Any]

DOCUMENT_VERSION: Final = 1
"""Bumped on any incompatible change of the JSON documents (added keys are compatible)."""

AUDITED_KINDS: Final = (Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY)
"""What ``audit`` judges; its document counts these as checked."""

_PLURALS = {
    Kind.SERVICE_ENTRY: "ServiceEntries",
    Kind.WORKLOAD_ENTRY: "WorkloadEntries",
    Kind.SERVICE: "Services",
}

VERDICT_LABELS: Final = {
    Verdict.REFUSED: "refused",
    Verdict.HELD: "held (mass removal)",
    Verdict.NOT_RECONCILABLE: "not reconcilable",
    Verdict.CONFLICT: "conflict",
    Verdict.NO_ADDRESS: "no ready address",
}
_VERDICT_COUNTS = {
    Verdict.REFUSED: "refused",
    Verdict.HELD: "held (mass removal)",
    Verdict.NOT_RECONCILABLE: "not reconcilable",
    Verdict.CONFLICT: "in conflict",
    Verdict.NO_ADDRESS: "waiting for a ready pod",
}

_ACTION_NAMES: Final[dict[type[WriteAction], str]] = {
    UpdateServiceEntryEndpoints: "update_endpoints",
    UpdateWorkloadEntryAddress: "update_address",
    SetWorkloadEntryHealth: "set_health",
    CreatePairedService: "create_paired_service",
    UpdatePairedService: "update_paired_service",
    DeletePairedService: "delete_paired_service",
}
_ACTION_LABELS: Final[dict[type[WriteAction], str]] = {
    UpdateServiceEntryEndpoints: "update endpoints",
    UpdateWorkloadEntryAddress: "update address",
    SetWorkloadEntryHealth: "set health",
    CreatePairedService: "create",
    UpdatePairedService: "update",
    DeletePairedService: "delete",
}


class Style:
    """ANSI styles, or none at all."""

    def __init__(self, *, colour: bool) -> None:
        self._colour = colour

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self._colour and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)


# -- shared pieces --------------------------------------------------------------------------------


def plural(kind: Kind, count: int) -> str:
    return f"{count} {kind if count == 1 else _PLURALS[kind]}"


def object_name(key: ObjectKey) -> str:
    """``ServiceEntry shop/web-static``."""
    return f"{key.kind} {key.namespace}/{key.name}"


def counted(counts: Mapping[Kind, int]) -> str:
    """``3 ServiceEntries, 1 WorkloadEntry, 1 Service`` (kinds with a count only)."""
    return ", ".join(plural(kind, counts[kind]) for kind in PLANNED_KINDS if counts.get(kind))


def _counted_notes(count: int) -> str:
    return f"{count} note{'s' if count != 1 else ''}"


def dump_json(document: JsonObject) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def unified_yaml_diff(
    before: JsonObject, after: JsonObject, *, before_label: str, after_label: str, style: Style
) -> list[str]:
    """The unified diff of two YAML documents, coloured line by line if ``style`` says so."""
    lines = difflib.unified_diff(
        _yaml(before).splitlines(),
        _yaml(after).splitlines(),
        fromfile=before_label,
        tofile=after_label,
        lineterm="",
    )
    return [_colour_diff_line(line, style) for line in lines]


def _yaml(fields: JsonObject) -> str:
    if not fields:
        return ""
    return yaml.safe_dump(fields, sort_keys=False, default_flow_style=False, width=1000)


def _colour_diff_line(line: str, style: Style) -> str:
    if line.startswith(("---", "+++")):
        return style.bold(line)
    if line.startswith("@@"):
        return style.cyan(line)
    if line.startswith("-"):
        return style.red(line)
    if line.startswith("+"):
        return style.green(line)
    return line


# -- one action -----------------------------------------------------------------------------------


def action_reason(action: Action) -> str:
    """Why: the pods and addresses that change, or the sentence that says why nothing is written."""
    if isinstance(action, NoWrite):
        return action.message
    if isinstance(action, SetWorkloadEntryHealth):
        return f"Healthy={action.after.status}: {action.after.message or action.after.reason}"
    if isinstance(action, CreatePairedService):
        return f"paired Service for headless Service {action.source.name}"
    if isinstance(action, UpdatePairedService):
        verb = "differs" if len(action.fields) == 1 else "differ"
        fields = ", ".join(action.fields)
        return f"paired Service of headless Service {action.source.name}: {fields} {verb}"
    if isinstance(action, DeletePairedService):
        return f"Service {action.source.name} no longer asks for it: {action.reason}"
    reason = describe_changes(action.changes)
    if isinstance(action, UpdateWorkloadEntryAddress) and action.health is not None:
        reason = f"{reason}; then Healthy={action.health.after.status}"
    return reason


def action_label(action: Action) -> str:
    """``update endpoints``, ``refused``, ``held (mass removal)``..."""
    if isinstance(action, NoWrite):
        return VERDICT_LABELS[action.verdict]
    return _ACTION_LABELS[type(action)]


def describe_action(action: Action) -> str:
    """The one-line rendering of an action: what, on which object, and why.

    ``ServiceEntry shop/web-static: update endpoints: web-1: 10.244.0.3 -> 10.244.0.5``
    """
    return f"{object_name(action.key)}: {action_label(action)}: {action_reason(action)}"


# -- diff: text -----------------------------------------------------------------------------------


def describe_note(note: Note) -> str:
    """``Service shop/api: note (PortNameWithoutProtocol): port api (50051) looks like...``."""
    return f"{object_name(note.key)}: note ({note.reason}): {note.message}"


def diff_text(report: DiffReport, *, colour: bool = False) -> str:
    """Per object a header and the diff of what would change; the notes; the summary line."""
    style = Style(colour=colour)
    blocks = ["\n".join(_object_block(diff, style)) for diff in report.objects]
    blocks.extend(style.bold(describe_note(note)) for note in report.notes)
    blocks.append(style.bold(diff_summary(report)))
    return "\n\n".join(blocks) + "\n"


def _object_block(diff: ObjectDiff, style: Style) -> list[str]:
    header = style.bold(describe_action(diff.action))
    if diff.before is None or diff.after is None:
        return [header]
    name = object_name(diff.key)
    before, after = _diff_labels(diff)
    return [
        header,
        *unified_yaml_diff(
            diff.before,
            diff.after,
            before_label=f"{name} ({before})",
            after_label=f"{name} ({after})",
            style=style,
        ),
    ]


def _diff_labels(diff: ObjectDiff) -> tuple[str, str]:
    if isinstance(diff.write, CreatePairedService):
        return "absent", "planned"
    if isinstance(diff.write, DeletePairedService):
        return "live", "deleted"
    return "live", "once the hold ends" if isinstance(diff.action, NoWrite) else "planned"


def diff_summary(report: DiffReport) -> str:
    """``3 ServiceEntries, 1 Service would change; 2 refused; 1 note``."""
    noted = f"; {_counted_notes(len(report.notes))}" if report.notes else ""
    if not report.objects:
        checked = counted(report.checked)
        scope = (
            f"{checked} checked"
            if checked
            else "no ServiceEntries, WorkloadEntries or Services in scope"
        )
        return f"No changes ({scope}){noted}"
    changing = counted(report.changing())
    said = f"{changing} would change" if changing else "Nothing would change now"
    withheld = report.withheld()
    if withheld:
        said += "; " + ", ".join(
            f"{withheld[verdict]} {label}"
            for verdict, label in _VERDICT_COUNTS.items()
            if withheld[verdict]
        )
    return said + noted


# -- diff: JSON -----------------------------------------------------------------------------------


def diff_document(report: DiffReport) -> JsonObject:
    """The ``diff -o json`` document (version 1; the schema is in ``docs/commands.md``)."""
    changing = report.changing()
    withheld = report.withheld()
    return {
        "version": DOCUMENT_VERSION,
        "command": "diff",
        "scope": scope_document(report.scope),
        "drift": report.drift,
        "summary": {
            "text": diff_summary(report),
            "checked": {str(kind): report.checked.get(kind, 0) for kind in PLANNED_KINDS},
            "changing": {str(kind): changing[kind] for kind in PLANNED_KINDS},
            "withheld": {str(verdict): withheld[verdict] for verdict in Verdict},
            "notes": len(report.notes),
        },
        "objects": [_object_document(diff) for diff in report.objects],
        "notes": [_note_document(note) for note in report.notes],
    }


def diff_json(report: DiffReport) -> str:
    return dump_json(diff_document(report))


def scope_document(scope: Scope) -> JsonObject:
    return {"namespaces": list(scope.namespaces), "selector": scope.selector}


def _object_document(diff: ObjectDiff) -> JsonObject:
    action = diff.action
    return {
        "kind": str(diff.key.kind),
        "namespace": diff.key.namespace,
        "name": diff.key.name,
        "action": None if diff.write is None else _ACTION_NAMES[type(diff.write)],
        "verdict": str(action.verdict) if isinstance(action, NoWrite) else None,
        "reason": action_reason(action),
        "drift": diff.drift,
        "changes": changes_document(action.changes),
        "before": diff.before,
        "after": diff.after,
        "patches": [_request_document(request) for request in diff.requests],
        "source": _source_document(diff.write),
    }


def changes_document(changes: Iterable[EndpointChange]) -> list[JsonObject]:
    return [
        {
            "pod": change.pod,
            "reason": str(change.reason),
            "before": change.before,
            "after": change.after,
        }
        for change in changes
    ]


def _request_document(request: Request) -> JsonObject:
    return {
        "method": request.method,
        "path": request.path,
        "subresource": request.subresource,
        "contentType": request.content_type,
        "body": request.body,
    }


def _source_document(write: WriteAction | None) -> JsonObject | None:
    """The headless Service a paired Service's write is for."""
    if not isinstance(write, PairedServiceAction):
        return None
    source = write.source
    return {"kind": str(source.kind), "namespace": source.namespace, "name": source.name}


def _note_document(note: Note) -> JsonObject:
    return {
        "kind": str(note.key.kind),
        "namespace": note.key.namespace,
        "name": note.key.name,
        "reason": note.reason,
        "message": note.message,
    }


# -- audit: text ----------------------------------------------------------------------------------

_MANAGEMENT_LABELS = {
    Management.MANAGED: "managed",
    Management.REFUSED: "opted in, refused",
    Management.UNMANAGED: "not managed",
}


def audit_text(report: AuditReport, *, colour: bool = False) -> str:
    """Per entry its findings, the pod it likely meant, the fix; then the summary line."""
    style = Style(colour=colour)
    blocks = ["\n".join(_entry_block(entry, style)) for entry in report.entries]
    blocks.append(style.bold(audit_summary(report)))
    return "\n\n".join(blocks) + "\n"


def _entry_block(entry: EntryAudit, style: Style) -> list[str]:
    judged = f"; judged against {', '.join(entry.follows)}" if entry.follows else ""
    lines = [
        style.bold(f"{object_name(entry.key)} ({_MANAGEMENT_LABELS[entry.management]}{judged})")
    ]
    if entry.note:
        lines.append(f"  {entry.note}")
    for finding in entry.findings:
        problem = style.red(str(finding.problem))
        lines.append(f"  {problem}: {finding.message}")
        meant = _meant_line(finding.meant)
        if meant:
            lines.append(f"    {meant}")
    fix = entry.fix
    if fix is not None:
        lines.append(f"  fix: {fix.command(entry.key)}")
        if fix.allow_cross_namespace is not None:
            allow = f"{ALLOW_CROSS_NAMESPACE_FLAG} {fix.allow_cross_namespace}"
            lines.append(f"       and run the controller with {allow}")
    if entry.workload_selector is not None:
        labels = _labels(entry.workload_selector)
        lines.append(
            f"  {style.cyan('advice')}: a workloadSelector ({labels}) would let istiod keep "
            "its endpoints instead of this hand-kept list"
        )
    return lines


def _meant_line(meant: tuple[PodRef, ...]) -> str:
    if not meant:
        return ""
    if len(meant) == 1:
        pod = meant[0]
        where = f"now at {pod.address}" if pod.address else "which has no ready address"
        return f"most likely meant: pod {pod.namespace}/{pod.name}, {where}"
    listed = ", ".join(f"pod {pod.namespace}/{pod.name} ({pod.address})" for pod in meant)
    return f"meant one of: {listed}"


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in labels.items())


def audit_summary(report: AuditReport) -> str:
    """``2 stale addresses, 1 recycled address in 2 entries; 1 could use workloadSelector``."""
    counts = report.counts()
    advice = sum(entry.workload_selector is not None for entry in report.entries)
    advised = f"; {advice} could use workloadSelector" if advice else ""
    if not counts:
        checked = counted(report.checked)
        where = f"{checked} checked" if checked else "no STATIC entries in scope"
        return f"No stale or recycled addresses ({where}){advised}"
    found = ", ".join(
        f"{counts[problem]} {problem} address{'es' if counts[problem] != 1 else ''}"
        for problem in Problem
        if counts[problem]
    )
    entries = sum(bool(entry.findings) for entry in report.entries)
    return f"{found} in {entries} entr{'ies' if entries != 1 else 'y'}{advised}"


# -- audit: JSON ----------------------------------------------------------------------------------


def audit_document(report: AuditReport) -> JsonObject:
    """The ``audit -o json`` document (version 1; the schema is in ``docs/commands.md``)."""
    counts = report.counts()
    return {
        "version": DOCUMENT_VERSION,
        "command": "audit",
        "scope": scope_document(report.scope),
        "problems": report.problems,
        "summary": {
            "text": audit_summary(report),
            "checked": {str(kind): report.checked.get(kind, 0) for kind in AUDITED_KINDS},
            "findings": {str(problem): counts[problem] for problem in Problem},
            "workloadSelector": sum(e.workload_selector is not None for e in report.entries),
            "unmanagedStale": sum(unmanaged_stale_addresses(report).values()),
        },
        "entries": [_entry_document(entry) for entry in report.entries],
    }


def audit_json(report: AuditReport) -> str:
    return dump_json(audit_document(report))


def _entry_document(entry: EntryAudit) -> JsonObject:
    fix = entry.fix
    return {
        "kind": str(entry.key.kind),
        "namespace": entry.key.namespace,
        "name": entry.key.name,
        "management": str(entry.management),
        "note": entry.note,
        "follows": list(entry.follows),
        "findings": [
            {
                "address": finding.address,
                "problem": str(finding.problem),
                "message": finding.message,
                "heldBy": _pod_document(finding.held_by),
                "meant": [_pod_document(pod) for pod in finding.meant],
            }
            for finding in entry.findings
        ],
        "fix": None
        if fix is None
        else {
            "annotations": dict(fix.annotations),
            "allowCrossNamespace": fix.allow_cross_namespace,
            "command": fix.command(entry.key),
        },
        "workloadSelector": None
        if entry.workload_selector is None
        else {"labels": dict(entry.workload_selector)},
    }


def _pod_document(pod: PodRef | None) -> JsonObject | None:
    if pod is None:
        return None
    return {"namespace": pod.namespace, "name": pod.name, "address": pod.address}

"""RFC 6902 JSON patch and RFC 7386 merge patch over plain JSON values.

The API server applies both to the JSON form of the stored object. A JSON
patch either applies completely or not at all; the caller turns any
:class:`JsonPatchError` into the generic 422 the real server answers (fidelity
07: the reason for the failure is never shown to the client).
"""

from __future__ import annotations

import copy
from typing import Any

MAX_OPERATIONS = 10000
"""The real server refuses longer patches with 413."""


class JsonPatchError(Exception):
    """A JSON patch operation does not apply to the document."""


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, key order does not matter."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return bool(left == right)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces.

    The result shares nothing with ``target`` or ``patch``.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_json_patch(document: Any, operations: list[Any]) -> Any:
    """The document after every operation, or :class:`JsonPatchError`; ``document`` is kept."""
    result = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict):
            raise JsonPatchError("operation is not an object")
        result = _apply_one(result, operation)
    return result


def _apply_one(document: Any, operation: dict[str, Any]) -> Any:
    op = operation.get("op")
    path = _pointer(operation, "path")
    if op == "add":
        return _add(document, path, copy.deepcopy(_value(operation)))
    if op == "remove":
        return _remove(document, path)[0]
    if op == "replace":
        return _replace(document, path, copy.deepcopy(_value(operation)))
    if op == "move":
        source = _pointer(operation, "from")
        if path[: len(source)] == source and len(path) > len(source):
            raise JsonPatchError("cannot move a value into one of its children")
        document, moved = _remove(document, source)
        return _add(document, path, moved)
    if op == "copy":
        copied = copy.deepcopy(_get(document, _pointer(operation, "from")))
        return _add(document, path, copied)
    if op == "test":
        _test(document, path, _value(operation))
        return document
    raise JsonPatchError(f"unexpected op {op!r}")


def _value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise JsonPatchError("operation has no value")
    return operation["value"]


def _pointer(operation: dict[str, Any], member: str) -> list[str]:
    text = operation.get(member)
    if not isinstance(text, str):
        raise JsonPatchError(f"operation has no {member}")
    if text == "":
        return []
    if not text.startswith("/"):
        raise JsonPatchError(f"pointer {text!r} does not start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    size = len(container)
    if token == "-" and allow_end:
        return size
    if not token.lstrip("-").isdigit():
        raise JsonPatchError(f"bad array index {token!r}")
    index = int(token)
    if index < 0:
        index += size
    limit = size if allow_end else size - 1
    if index < 0 or index > limit:
        raise JsonPatchError(f"array index {token} out of range")
    return index


def _get(document: Any, path: list[str]) -> Any:
    current = document
    for token in path:
        if isinstance(current, dict):
            if token not in current:
                raise JsonPatchError(f"missing key {token!r}")
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, allow_end=False)]
        else:
            raise JsonPatchError(f"cannot descend into a scalar at {token!r}")
    return current


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, allow_end=True), value)
    else:
        raise JsonPatchError("add target parent is a scalar")
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise JsonPatchError("cannot remove the whole document")
    parent = _get(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchError(f"missing key {token!r}")
        return document, parent.pop(token)
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, token, allow_end=False))
    raise JsonPatchError("remove target parent is a scalar")


def _replace(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchError(f"missing key {token!r}")
        parent[token] = value
    elif isinstance(parent, list):
        parent[_index(parent, token, allow_end=False)] = value
    else:
        raise JsonPatchError("replace target parent is a scalar")
    return document


def _test(document: Any, path: list[str], expected: Any) -> None:
    try:
        actual = _get(document, path)
    except JsonPatchError:
        if expected is None:
            return
        raise
    if not json_equal(actual, expected):
        raise JsonPatchError("test failed")

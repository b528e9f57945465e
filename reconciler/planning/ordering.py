"""Natural order of pod names, so ``web-2`` comes before ``web-10``.

Endpoints and changes are listed in this order (SPEC section 3) so that a diff
of a ServiceEntry shows the pod that changed and nothing else, however the
EndpointSlices listed the pods.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")

NaturalKey = tuple[tuple[str | int, ...], str]


def natural_key(name: str) -> NaturalKey:
    """Sort key: runs of digits compare as numbers; the name itself breaks ties (``01``/``1``).

    ``re.split`` with a capturing group alternates text and digits starting with
    text, so position ``i`` always holds the same type in every key.
    """
    parts = _DIGITS.split(name)
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts)), name

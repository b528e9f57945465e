"""The I/O edge towards the Kubernetes API: one client, its errors, its retry policy.

Everything that leaves the process for the API server goes through
:class:`KubeClient`; everything that comes back is either raw bytes for the
watch layer or a compact projection, and every failure is one of the error
classes in :mod:`reconciler.api.errors`.
"""

from reconciler.api.client import (
    FIELD_MANAGER,
    USER_AGENT,
    KubeClient,
    KubeConfigError,
    PatchType,
    Preconditions,
    PropagationPolicy,
    RequestObserver,
    load_configuration,
)
from reconciler.api.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    PermanentError,
    TransientError,
    UnauthorizedError,
)
from reconciler.api.resources import Resource
from reconciler.api.retrying import RetryPolicy

__all__ = [
    "FIELD_MANAGER",
    "USER_AGENT",
    "AlreadyExistsError",
    "ApiError",
    "ConflictError",
    "ForbiddenError",
    "GoneError",
    "InvalidError",
    "KubeClient",
    "KubeConfigError",
    "NotFoundError",
    "PatchType",
    "PermanentError",
    "Preconditions",
    "PropagationPolicy",
    "RequestObserver",
    "Resource",
    "RetryPolicy",
    "TransientError",
    "UnauthorizedError",
    "load_configuration",
]

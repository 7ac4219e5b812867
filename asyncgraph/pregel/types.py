"""Deprecated: the value types' old home. Import them from :mod:`asyncgraph.types`.

Importing this module warns once (``LangGraphDeprecatedSinceV10``), as LangGraph's does.
"""

import warnings

from asyncgraph.types import (
    All,
    CachePolicy,
    PregelExecutableTask,
    PregelTask,
    RetryPolicy,
    StateSnapshot,
    StateUpdate,
    StreamMode,
    StreamWriter,
    default_retry_on,
)
from asyncgraph.warnings import LangGraphDeprecatedSinceV10, _import_path

__all__ = [
    "All",
    "CachePolicy",
    "PregelExecutableTask",
    "PregelTask",
    "RetryPolicy",
    "StateSnapshot",
    "StateUpdate",
    "StreamMode",
    "StreamWriter",
    "default_retry_on",
]

warnings.warn(
    f"Importing from {_import_path(__name__)} is deprecated. "
    f"Please use 'from {_import_path('asyncgraph.types')} import ...' instead.",
    LangGraphDeprecatedSinceV10,
    stacklevel=2,
)

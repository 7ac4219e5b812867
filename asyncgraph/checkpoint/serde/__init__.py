"""How checkpoint values become bytes: a typed msgpack encoding, safe by default.

Reading a checkpoint never unpickles and never imports or calls a class outside the
allowlist. Register your own Pydantic models, dataclasses and enums with :func:`allow`.
LangGraph's names live in the submodules: ``jsonplus.JsonPlusSerializer``,
``encrypted.EncryptedSerializer``, ``base.SerializerProtocol``.
"""

from asyncgraph.checkpoint.serde._allow import Allowlist, allow, default_allowlist
from asyncgraph.checkpoint.serde._msgpack import MsgpackSerde, StoredError, StoredObject

__all__ = ["Allowlist", "MsgpackSerde", "StoredError", "StoredObject", "allow", "default_allowlist", "default_serde"]


def default_serde() -> MsgpackSerde:
    """The serializer a saver uses when none is given."""
    return MsgpackSerde()

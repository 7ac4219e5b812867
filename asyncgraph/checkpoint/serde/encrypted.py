"""``EncryptedSerializer``: any serializer's bytes, encrypted (LangGraph's name and API).

The type tag records the cipher: a value tagged ``"msgpack"`` by the inner serializer is
stored as ``"msgpack+aes"``. Values stored before encryption was turned on (no ``+`` in
the tag) are read as they are, unless ``allow_plaintext=False``.

``from_pycryptodome_aes`` needs the optional ``pycryptodome`` package
(``pip install asyncgraph[crypto]``) and uses an authenticated AES mode, so a row that was
altered in the database fails to decrypt instead of reading back as something else.
"""

from __future__ import annotations

import os
from typing import Any

from asyncgraph.checkpoint.serde.base import CipherProtocol, SerializerProtocol
from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

__all__ = ["EncryptedSerializer"]

# Untyped frames (``dumps``/``loads``, what the savers call) start with 0xC1, a byte msgpack
# never uses, so an encrypted frame is told apart from a plain msgpack value stored earlier.
_FRAME = b"\xc1"


class EncryptedSerializer(SerializerProtocol):
    """Encrypts what ``serde`` produces with ``cipher``.

    Args:
        cipher: encrypts and decrypts bytes (:class:`~asyncgraph.checkpoint.serde.base.CipherProtocol`).
        serde: the serializer whose output is encrypted; the safe msgpack one by default.
        allow_plaintext: read values stored without encryption (written before it was
            turned on). With False, such a value is a ``ValueError``.
    """

    def __init__(
        self,
        cipher: CipherProtocol,
        serde: SerializerProtocol | None = None,
        *,
        allow_plaintext: bool = True,
    ) -> None:
        self.cipher = cipher
        self.serde: Any = serde if serde is not None else JsonPlusSerializer()
        self.allow_plaintext = allow_plaintext

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        kind, data = self.serde.dumps_typed(obj)
        cipher_name, ciphertext = self.cipher.encrypt(data)
        return f"{kind}+{cipher_name}", ciphertext

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        tag, payload = data
        kind, encrypted, cipher_name = tag.partition("+")
        if not encrypted:
            if not self.allow_plaintext:
                raise ValueError(f"refusing an unencrypted stored value (type {tag!r})")
            return self.serde.loads_typed(data)
        return self.serde.loads_typed((kind, self.cipher.decrypt(cipher_name, payload)))

    # The savers store untyped bytes: the tag travels inside the frame.

    def dumps(self, obj: Any) -> bytes:
        tag, ciphertext = self.dumps_typed(obj)
        raw_tag = tag.encode()
        if len(raw_tag) > 255:
            raise ValueError(f"type tag too long: {tag!r}")
        return _FRAME + bytes([len(raw_tag)]) + raw_tag + ciphertext

    def loads(self, data: bytes) -> Any:
        if data[:1] != _FRAME:
            if not self.allow_plaintext:
                raise ValueError("refusing an unencrypted stored value")
            loads = getattr(self.serde, "loads", None)
            return loads(data) if loads is not None else self.serde.loads_typed(("msgpack", data))
        size = data[1] if len(data) > 1 else 0
        tag = bytes(data[2 : 2 + size]).decode()
        if len(tag) != size or "+" not in tag:
            raise ValueError("malformed encrypted value")
        return self.loads_typed((tag, bytes(data[2 + size :])))

    @classmethod
    def from_pycryptodome_aes(
        cls, serde: SerializerProtocol | None = None, **kwargs: Any
    ) -> EncryptedSerializer:
        """AES in an authenticated mode (EAX unless ``mode=`` says GCM), via pycryptodome.

        Args:
            serde: the inner serializer (the safe msgpack one by default).
            key: 16, 24 or 32 bytes. Defaults to the ``ASYNCGRAPH_AES_KEY`` environment
                variable, then ``LANGGRAPH_AES_KEY``.
            **kwargs: passed to ``Crypto.Cipher.AES.new`` (e.g. ``mode=AES.MODE_GCM``).

        Raises:
            ImportError: pycryptodome is not installed.
            ValueError: no key, a key of the wrong length, or a mode without authentication.
        """
        try:
            from Crypto.Cipher import AES  # optional dependency, imported only when used
        except ImportError:
            raise ImportError(
                "EncryptedSerializer.from_pycryptodome_aes needs pycryptodome: "
                "pip install 'asyncgraph[crypto]'"
            ) from None
        key = kwargs.pop("key", None)
        if key is None:
            env = os.environ.get("ASYNCGRAPH_AES_KEY") or os.environ.get("LANGGRAPH_AES_KEY")
            if env is None:
                raise ValueError("no AES key: pass key= or set ASYNCGRAPH_AES_KEY")
            key = env.encode()
        if not isinstance(key, bytes) or len(key) not in (16, 24, 32):
            raise ValueError("the AES key must be 16, 24 or 32 bytes long")
        mode = kwargs.setdefault("mode", AES.MODE_EAX)
        if mode not in (AES.MODE_EAX, AES.MODE_GCM):
            raise ValueError("use an authenticated AES mode: AES.MODE_EAX or AES.MODE_GCM")
        return cls(_AesCipher(AES, key, kwargs), serde)


class _AesCipher:
    """Ciphertext layout: 16-byte nonce, 16-byte tag, then the encrypted bytes."""

    name = "aes"

    def __init__(self, aes: Any, key: bytes, options: dict[str, Any]) -> None:
        self._aes = aes
        self._key = key
        self._options = options

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        cipher = self._aes.new(self._key, nonce=os.urandom(16), **self._options)
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return self.name, cipher.nonce + tag + ciphertext

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != self.name:
            raise ValueError(f"cannot decrypt a value encrypted with {ciphername!r}")
        if len(ciphertext) < 32:
            raise ValueError("malformed AES ciphertext")
        nonce, tag, body = ciphertext[:16], ciphertext[16:32], ciphertext[32:]
        cipher = self._aes.new(self._key, nonce=nonce, **self._options)
        plaintext: bytes = cipher.decrypt_and_verify(body, tag)
        return plaintext

"""Envelope encryption for tenant secrets.

The master key (key-encryption key, ``SWITCHBOARD_MASTER_KEY``) wraps one 256-bit data key per
tenant; data keys encrypt secrets. Both layers are AES-GCM with a random 96-bit nonce, and the
associated data binds every ciphertext to where it belongs (tenant, kind, row): a ciphertext copied
to another tenant or row fails to decrypt instead of yielding someone else's secret.

Stored form of a sealed value: ``nonce (12 bytes) || ciphertext || tag``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["DecryptionError", "Keyring", "MasterKey", "fingerprint", "open_sealed", "seal", "secret_aad"]

_NONCE = 12


class DecryptionError(Exception):
    """A ciphertext did not authenticate: wrong key, or moved from where it was sealed."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext does not authenticate under this key and context") from None


def secret_aad(tenant_id: UUID, kind: str, row_id: UUID) -> bytes:
    return f"switchboard/secret/v1/{tenant_id}/{kind}/{row_id}".encode()


def fingerprint(secret: str) -> str:
    """A short, non-reversible label for showing which secret is set (never the secret)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class MasterKey:
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey(id={self.key_id})"

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"switchboard/kek-id/" + self.key).hexdigest()[:16]

    def wrap_data_key(self, tenant_id: UUID, data_key: bytes) -> bytes:
        return seal(self.key, data_key, f"switchboard/dek/v1/{tenant_id}".encode())

    def unwrap_data_key(self, tenant_id: UUID, wrapped: bytes) -> bytes:
        return open_sealed(self.key, wrapped, f"switchboard/dek/v1/{tenant_id}".encode())

    @staticmethod
    def new_data_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current master key, which wraps every new data key, and previous ones, which only
    unwrap (during a rotation). Each wrapped data key is stored with the id of its master key."""

    current: MasterKey
    previous: tuple[MasterKey, ...] = ()

    def get(self, key_id: str) -> MasterKey | None:
        return next((k for k in (self.current, *self.previous) if k.key_id == key_id), None)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in (self.current, *self.previous))

"""Envelope encryption: secrets decrypt only where they were sealed, and only under the right key."""

from __future__ import annotations

import os
import uuid

import pytest

from kernel.crypto import DecryptionError, MasterKey, open_sealed, seal, secret_aad


def test_round_trip() -> None:
    key, tenant, row = os.urandom(32), uuid.uuid4(), uuid.uuid4()
    sealed = seal(key, b"EAAG-token", secret_aad(tenant, "whatsapp", row))
    assert b"EAAG-token" not in sealed
    assert open_sealed(key, sealed, secret_aad(tenant, "whatsapp", row)) == b"EAAG-token"


@pytest.mark.parametrize("moved", ["tenant", "kind", "row"])
def test_a_ciphertext_moved_to_another_tenant_kind_or_row_does_not_decrypt(moved: str) -> None:
    key, tenant, row = os.urandom(32), uuid.uuid4(), uuid.uuid4()
    sealed = seal(key, b"secret", secret_aad(tenant, "whatsapp", row))
    elsewhere = {
        "tenant": secret_aad(uuid.uuid4(), "whatsapp", row),
        "kind": secret_aad(tenant, "sms", row),
        "row": secret_aad(tenant, "whatsapp", uuid.uuid4()),
    }[moved]
    with pytest.raises(DecryptionError):
        open_sealed(key, sealed, elsewhere)


def test_data_keys_unwrap_only_under_the_master_key_and_for_their_tenant() -> None:
    master, other = MasterKey(os.urandom(32)), MasterKey(os.urandom(32))
    tenant = uuid.uuid4()
    data_key = MasterKey.new_data_key()
    wrapped = master.wrap_data_key(tenant, data_key)
    assert master.unwrap_data_key(tenant, wrapped) == data_key
    with pytest.raises(DecryptionError):
        other.unwrap_data_key(tenant, wrapped)
    with pytest.raises(DecryptionError):
        master.unwrap_data_key(uuid.uuid4(), wrapped)


def test_master_key_repr_shows_only_its_id() -> None:
    master = MasterKey(os.urandom(32))
    assert master.key.hex() not in repr(master)
    assert master.key_id in repr(master)

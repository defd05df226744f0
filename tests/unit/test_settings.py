"""Settings: a bad value stops the process at start with one line naming the variable."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.settings import SettingsError, load


def test_defaults_match_the_contract() -> None:
    settings = load({})
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/switchboard"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.graph_url == "https://graph.facebook.com"
    assert (settings.http_port, settings.grpc_port, settings.sandbox_port) == (8000, 50051, 8090)
    assert settings.master_key is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("SWITCHBOARD_GRAPH_URL", "graph.facebook.com"),
        ("SWITCHBOARD_HTTP_PORT", "eighty"),
        ("SWITCHBOARD_GRPC_PORT", "70000"),
        ("SWITCHBOARD_MASTER_KEY", "not base64!"),
        ("SWITCHBOARD_MASTER_KEY", base64.b64encode(b"short").decode()),
        ("SWITCHBOARD_MASTER_KEY_FILE", "/nonexistent/master.key"),
        ("SWITCHBOARD_PREVIOUS_MASTER_KEYS", base64.b64encode(os.urandom(32)).decode() + ",nope"),
        ("SWITCHBOARD_PUBLIC_URL", "api.example.com"),
        ("SWITCHBOARD_PROVIDER_TIMEOUT_SECONDS", "0"),
    ],
)
def test_malformed_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load({variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")


def test_a_process_with_a_bad_setting_exits_with_one_line() -> None:
    env = {**os.environ, "SWITCHBOARD_HTTP_PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "switchboard: bad setting SWITCHBOARD_HTTP_PORT: expected a whole number, got 'eighty'"
    ]


def test_servers_refuse_to_start_without_a_master_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_MASTER_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "grpc"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SWITCHBOARD_MASTER_KEY" in result.stderr


def test_the_master_key_may_come_from_a_file_and_previous_keys_from_a_list(tmp_path: Path) -> None:
    current, old1, old2 = os.urandom(32), os.urandom(32), os.urandom(32)
    key_file = tmp_path / "master.key"
    key_file.write_text(base64.b64encode(current).decode() + "\n")
    settings = load(
        {
            "SWITCHBOARD_MASTER_KEY_FILE": str(key_file),
            "SWITCHBOARD_PREVIOUS_MASTER_KEYS": f"{base64.b64encode(old1).decode()}, {base64.b64encode(old2).decode()}",
        }
    )
    keyring = settings.keyring()
    assert keyring.current.key == current
    assert [k.key for k in keyring.previous] == [old1, old2]
    assert keyring.get(keyring.previous[1].key_id) == keyring.previous[1]
    assert "key" not in repr(keyring.current).lower().replace("masterkey", "")  # no key material

"""Process settings, read once from the environment at start.

A missing or malformed value raises :class:`SettingsError` naming the variable; entry points turn
that into one line on stderr and exit status 2, so a bad deployment fails before it serves anything.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from kernel.crypto import Keyring, MasterKey

__all__ = ["Settings", "SettingsError", "load"]

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/switchboard"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


# Seconds before each retry of a partner webhook: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, then
# every 10 h, about 3 days in all.
WEBHOOK_RETRY_SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, *(36000.0,) * 6)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    master_key: bytes | None
    graph_url: str
    http_port: int
    grpc_port: int
    sandbox_port: int
    api_workers: int
    worker_processes: int
    worker_threads: int
    log_level: str
    # How long an attempt whose outcome is unknown (worker died mid-call) is left for the
    # provider's status webhook to settle before the message is sent again.
    delivery_hold_seconds: float
    retry_base_ms: int
    max_attempts: int
    # A retryable failure stops being retried once the round's first attempt is this old.
    retry_max_age_seconds: float = 900.0
    # How long a provider call (Meta, Twilio, SMTP) may take; one that takes longer has an unknown
    # outcome and is held like a worker that died mid-call.
    provider_timeout_seconds: float = 20.0
    # The API's URL as providers call it (scheme, host, optional path prefix), when a proxy stands
    # in front: Twilio signs the URL it requested, so its callbacks are verified against this.
    public_url: str | None = None
    # Older master keys, still able to unwrap data keys while `switchboard keys rotate` re-wraps
    # them under the current one.
    previous_master_keys: tuple[bytes, ...] = ()
    # Worker processes of their own for bulk messages (0: the same pool runs everything).
    bulk_worker_processes: int = 1
    # Their threads: a bulk send waiting for its number's pacing slot holds a thread (Dramatiq
    # runs one message per thread, async or not), so bulk processes get many cheap ones.
    bulk_worker_threads: int = 64
    # Tenant quotas at the edge (plans); off only to measure what they cost (bench.quotas).
    quotas: bool = True
    # At most one message per this many ms to the same recipient from the same sender (Meta's
    # pair rate, 131056); 0 turns the pacing off (tests that send bursts to one test number).
    pair_interval_ms: int = 6000
    # Each tenant's bulk items in flight (published to the workers, not yet done) at most; the
    # rest wait in the outbox, so another tenant's bulk work is not queued behind them.
    bulk_in_flight: int = 200
    # gRPC server processes sharing SWITCHBOARD_GRPC_PORT.
    grpc_processes: int = 2
    # Twilio's REST API base; the sandbox's URL in development and tests.
    twilio_url: str = "https://api.twilio.com"
    # Partner webhooks: the wait before each retry (Standard Webhooks' schedule, about 3 days),
    # whether endpoints may be http:// or resolve to private addresses (development only), and
    # how long an endpoint may fail without a break before it is disabled.
    webhook_retry_schedule: tuple[float, ...] = WEBHOOK_RETRY_SCHEDULE
    webhook_allow_private: bool = False
    webhook_disable_after_hours: float = 120.0

    @property
    def asyncpg_dsn(self) -> str:
        """DATABASE_URL in the form asyncpg accepts (without SQLAlchemy's ``+asyncpg``)."""
        _, rest = self.database_url.split("://", 1)
        return "postgresql://" + rest

    def keyring(self) -> Keyring:
        """The current master key and any previous ones (see :class:`kernel.crypto.Keyring`)."""
        return Keyring(MasterKey(self.require_master_key()), tuple(MasterKey(k) for k in self.previous_master_keys))

    def require_master_key(self) -> bytes:
        if self.master_key is None:
            raise SettingsError(
                "SWITCHBOARD_MASTER_KEY",
                "not set (base64 of 32 bytes; `switchboard dev` generates one for local use)",
            )
        return self.master_key


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name, default).strip()
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise SettingsError(
            name, f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, got {value!r}"
        )
    return value.rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, got {value}")
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise SettingsError(name, f"expected on or off, got {raw!r}")


def _key(name: str, raw: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(name, "not valid base64") from None
    if len(key) != 32:
        raise SettingsError(name, f"must decode to 32 bytes, got {len(key)}")
    return key


def _master_key(env: Mapping[str, str]) -> bytes | None:
    """From SWITCHBOARD_MASTER_KEY, or else from the file SWITCHBOARD_MASTER_KEY_FILE names (as
    secret managers mount them)."""
    raw = env.get("SWITCHBOARD_MASTER_KEY")
    if raw is not None and raw.strip() != "":
        return _key("SWITCHBOARD_MASTER_KEY", raw)
    path = env.get("SWITCHBOARD_MASTER_KEY_FILE", "").strip()
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as file:
            return _key("SWITCHBOARD_MASTER_KEY_FILE", file.read())
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError("SWITCHBOARD_MASTER_KEY_FILE", f"cannot read {path}: {error}") from None


def _previous_keys(env: Mapping[str, str]) -> tuple[bytes, ...]:
    raw = env.get("SWITCHBOARD_PREVIOUS_MASTER_KEYS", "")
    return tuple(_key("SWITCHBOARD_PREVIOUS_MASTER_KEYS", part) for part in raw.split(",") if part.strip())


def _schedule(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        found = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(name, f"expected seconds separated by commas, got {raw!r}") from None
    if not found or any(not 0 <= s <= 7 * 86400 for s in found):
        raise SettingsError(name, "each wait must be between 0 and 604800 seconds")
    return found


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raises :class:`SettingsError` on the first bad one."""
    env = os.environ if env is None else env
    log_level = env.get("SWITCHBOARD_LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError("SWITCHBOARD_LOG_LEVEL", f"expected DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    return Settings(
        database_url=_url(env, "DATABASE_URL", DEFAULT_DATABASE_URL, ("postgresql+asyncpg", "postgresql")),
        redis_url=_url(env, "REDIS_URL", DEFAULT_REDIS_URL, ("redis", "rediss")),
        master_key=_master_key(env),
        graph_url=_url(env, "SWITCHBOARD_GRAPH_URL", DEFAULT_GRAPH_URL, ("http", "https")),
        http_port=_int(env, "SWITCHBOARD_HTTP_PORT", 8000, 1, 65535),
        grpc_port=_int(env, "SWITCHBOARD_GRPC_PORT", 50051, 1, 65535),
        sandbox_port=_int(env, "SWITCHBOARD_SANDBOX_PORT", 8090, 1, 65535),
        api_workers=_int(env, "SWITCHBOARD_API_WORKERS", 2, 1, 64),
        grpc_processes=_int(env, "SWITCHBOARD_GRPC_PROCESSES", 2, 1, 64),
        worker_processes=_int(env, "SWITCHBOARD_WORKER_PROCESSES", 2, 1, 64),
        worker_threads=_int(env, "SWITCHBOARD_WORKER_THREADS", 16, 1, 256),
        log_level=log_level,
        delivery_hold_seconds=_float(env, "SWITCHBOARD_DELIVERY_HOLD_SECONDS", 30.0, 0.0, 86400.0),
        retry_base_ms=_int(env, "SWITCHBOARD_RETRY_BASE_MS", 1000, 1, 3_600_000),
        max_attempts=_int(env, "SWITCHBOARD_MAX_ATTEMPTS", 6, 1, 100),
        retry_max_age_seconds=_float(env, "SWITCHBOARD_RETRY_MAX_AGE_SECONDS", 900.0, 1.0, 86400.0),
        provider_timeout_seconds=_float(env, "SWITCHBOARD_PROVIDER_TIMEOUT_SECONDS", 20.0, 0.1, 300.0),
        previous_master_keys=_previous_keys(env),
        quotas=_switch(env, "SWITCHBOARD_QUOTAS", True),
        bulk_worker_processes=_int(env, "SWITCHBOARD_BULK_WORKER_PROCESSES", 1, 0, 64),
        bulk_worker_threads=_int(env, "SWITCHBOARD_BULK_WORKER_THREADS", 64, 1, 1024),
        pair_interval_ms=_int(env, "SWITCHBOARD_PAIR_INTERVAL_MS", 6000, 0, 60_000),
        bulk_in_flight=_int(env, "SWITCHBOARD_BULK_IN_FLIGHT", 200, 1, 100_000),
        twilio_url=_url(env, "SWITCHBOARD_TWILIO_URL", "https://api.twilio.com", ("http", "https")),
        webhook_retry_schedule=_schedule(env, "SWITCHBOARD_WEBHOOK_RETRY_SCHEDULE", WEBHOOK_RETRY_SCHEDULE),
        webhook_allow_private=_switch(env, "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", False),
        webhook_disable_after_hours=_float(env, "SWITCHBOARD_WEBHOOK_DISABLE_AFTER_HOURS", 120.0, 0.0, 8760.0),
        public_url=_url(env, "SWITCHBOARD_PUBLIC_URL", "", ("http", "https"))
        if env.get("SWITCHBOARD_PUBLIC_URL")
        else None,
    )

"""One Alembic history for the whole schema. ``switchboard migrate`` runs :func:`upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

__all__ = ["alembic_config", "target_metadata", "upgrade"]

HERE = Path(__file__).resolve().parent


def target_metadata() -> MetaData:
    """The metadata with every domain's tables registered."""
    import admin_ui.models  # noqa: F401
    import billing.models  # noqa: F401
    import kernel.outbox  # noqa: F401
    import messaging.models  # noqa: F401
    import tenants.models  # noqa: F401
    import webhooks.models
    import webhooks.outbound.models  # noqa: F401
    from kernel.models import metadata

    return metadata


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)

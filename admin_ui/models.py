"""Admin users and their sign-in sessions."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, LargeBinary, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID

from kernel.models import metadata

__all__ = ["admin_sessions", "admin_users"]

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # NULL for the platform operator, who belongs to no tenant.
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("role IN ('owner', 'admin', 'developer', 'support', 'billing', 'operator')", name="role_known"),
    CheckConstraint("(role = 'operator') = (tenant_id IS NULL)", name="operator_has_no_tenant"),
    # Emails are unique across the platform: the login form asks for nothing else.
    Index("uq_admin_users_email", text("lower(email)"), unique=True),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    # SHA-256 of the cookie's token: a leaked table opens no session.
    Column("token_hash", LargeBinary, primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("admin_users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_admin_sessions_user_id", "user_id"),
)

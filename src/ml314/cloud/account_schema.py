"""The tables of the app's Wi-Fi (cloud) mode: accounts, sessions, devices, bindings, installer grants, audit.

SQLAlchemy Core, PostgreSQL in production (SQLite works too). Every name starts with ``app_`` so the tables live
beside the fleet store's (``cloud/fleet_schema.py``) in one database. Only hashes of secrets are stored: Argon2id
for passwords and claim codes, SHA-256 for session tokens (256 random bits: no guessing reaches them, so a fast
hash is enough and a lookup stays an index probe). Times are Unix seconds (float).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["METADATA", "audit", "bindings", "create_account_schema", "devices", "grants", "sessions", "users"]

METADATA = sa.MetaData()

users = sa.Table(
    "app_users",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),  # casefolded
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_s", sa.Float, nullable=False),
    sa.Column("login_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("login_locked_until_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("bind_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("bind_locked_until_s", sa.Float, nullable=False, server_default="0"),
)

sessions = sa.Table(
    "app_sessions",
    METADATA,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 hex of the bearer token / cookie
    sa.Column("user_id", sa.Integer, sa.ForeignKey("app_users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_s", sa.Float, nullable=False),
    sa.Column("expires_s", sa.Float, nullable=False),
)

devices = sa.Table(
    "app_devices",
    METADATA,
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("claim_hash", sa.Text, nullable=False),  # Argon2id of the label's claim code (identity.json's)
    sa.Column("provisioned_s", sa.Float, nullable=False),
)

bindings = sa.Table(
    "app_bindings",
    METADATA,
    sa.Column("serial", sa.String(64), sa.ForeignKey("app_devices.serial", ondelete="CASCADE"), primary_key=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("app_users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=True),  # the owner's nickname for it (owner-scoped)
    sa.Column("bound_s", sa.Float, nullable=False),
)

grants = sa.Table(
    "app_grants",
    METADATA,
    sa.Column("serial", sa.String(64), sa.ForeignKey("app_bindings.serial", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("app_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_s", sa.Float, nullable=False),
    sa.Column("expires_s", sa.Float, nullable=False),
    sa.Index("app_grants_user", "user_id"),
)

audit = sa.Table(
    "app_audit",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("serial", sa.String(64), nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
)


def create_account_schema(engine: sa.Engine) -> None:
    """Create the app's tables that are missing (idempotent; several workers may run it at once)."""
    try:
        METADATA.create_all(engine)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError):  # another worker created one between check and CREATE
        METADATA.create_all(engine)

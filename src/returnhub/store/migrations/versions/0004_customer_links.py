"""customer links, link audit, pulled returns

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from returnhub.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ever_unlinked", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    op.create_table(
        "customer_links",
        sa.Column("id", KEY, nullable=False),
        sa.Column("customer_id", KEY, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("how", sa.String(length=10), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_links_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_links")),
        sa.UniqueConstraint(
            "system", "external_id", name=op.f("uq_customer_links_system_external_id")
        ),
    )
    op.create_index(
        op.f("ix_customer_links_customer_id"), "customer_links", ["customer_id"], unique=False
    )
    op.create_table(
        "link_audit",
        sa.Column("id", KEY, nullable=False),
        sa.Column("customer_id", KEY, nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("how", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_link_audit_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_audit")),
    )
    op.create_index(op.f("ix_link_audit_customer_id"), "link_audit", ["customer_id"], unique=False)
    op.create_table(
        "pulled_returns",
        sa.Column("id", KEY, nullable=False),
        sa.Column("customer_id", KEY, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("order_name", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("source_updated_at", UTCDateTime(), nullable=True),
        sa.Column("pulled_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_pulled_returns_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulled_returns")),
        sa.UniqueConstraint(
            "customer_id",
            "system",
            "external_id",
            name=op.f("uq_pulled_returns_customer_id_system_external_id"),
        ),
    )
    op.create_index(
        op.f("ix_pulled_returns_customer_id"), "pulled_returns", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pulled_returns_customer_id"), table_name="pulled_returns")
    op.drop_table("pulled_returns")
    op.drop_index(op.f("ix_link_audit_customer_id"), table_name="link_audit")
    op.drop_table("link_audit")
    op.drop_index(op.f("ix_customer_links_customer_id"), table_name="customer_links")
    op.drop_table("customer_links")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("ever_unlinked")

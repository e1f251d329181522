"""orders from other systems: source, external id and stamp of orders, order lines and
fulfilments; cancelled orders; delivered fulfilments; a customer's Shopify stamp

Revision ID: 0008_order_sources
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from returnhub.store.types import UTCDateTime

revision = "0008_order_sources"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source_system",
                sa.String(length=32),
                server_default=sa.text("'returnhub'"),
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("source_updated_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_orders_source_system_external_id"), ["source_system", "external_id"]
        )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
    with op.batch_alter_table("fulfillments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=32), server_default=sa.text("''"), nullable=False)
        )
        batch_op.add_column(sa.Column("delivered_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("source_updated_at", UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_fulfillments_order_id_external_id"), ["order_id", "external_id"]
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shopify_updated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("shopify_updated_at")
    with op.batch_alter_table("fulfillments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_fulfillments_order_id_external_id"), type_="unique")
        batch_op.drop_column("source_updated_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("status")
        batch_op.drop_column("external_id")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("external_id")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_orders_source_system_external_id"), type_="unique")
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("source_updated_at")
        batch_op.drop_column("external_id")
        batch_op.drop_column("source_system")

"""warehouse: return authorizations, ra lines, receipts, edi control numbers

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from returnhub.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "return_authorizations",
        sa.Column("id", KEY, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("return_id", KEY, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("asn_control_number", sa.BigInteger(), nullable=True),
        sa.Column("asn_file", sa.String(length=300), nullable=False),
        sa.Column("asn_text", sa.Text(), nullable=False),
        sa.Column("transmitted_at", UTCDateTime(), nullable=True),
        sa.Column("first_received_at", UTCDateTime(), nullable=True),
        sa.Column("receipt_complete", sa.Boolean(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decision_detail", sa.JSON(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.id"],
            name=op.f("fk_return_authorizations_return_id_returns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_authorizations")),
        sa.UniqueConstraint("number", name=op.f("uq_return_authorizations_number")),
        sa.UniqueConstraint("public_id", name=op.f("uq_return_authorizations_public_id")),
        sa.UniqueConstraint("return_id", name=op.f("uq_return_authorizations_return_id")),
    )
    op.create_index(
        op.f("ix_return_authorizations_state"), "return_authorizations", ["state"], unique=False
    )
    op.create_table(
        "ra_lines",
        sa.Column("id", KEY, nullable=False),
        sa.Column("ra_id", KEY, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("expected_condition", sa.String(length=32), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ra_id"],
            ["return_authorizations.id"],
            name=op.f("fk_ra_lines_ra_id_return_authorizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ra_lines")),
    )
    op.create_index(op.f("ix_ra_lines_ra_id"), "ra_lines", ["ra_id"], unique=False)
    op.create_table(
        "warehouse_receipts",
        sa.Column("id", KEY, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("ra_id", KEY, nullable=True),
        sa.Column("ra_number", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("receipt_number", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ra_id"],
            ["return_authorizations.id"],
            name=op.f("fk_warehouse_receipts_ra_id_return_authorizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_receipts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_warehouse_receipts_dedupe_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_warehouse_receipts_public_id")),
    )
    op.create_index(
        op.f("ix_warehouse_receipts_ra_id"), "warehouse_receipts", ["ra_id"], unique=False
    )
    op.create_index(
        op.f("ix_warehouse_receipts_ra_number"), "warehouse_receipts", ["ra_number"], unique=False
    )
    op.create_table(
        "receipt_lines",
        sa.Column("id", KEY, nullable=False),
        sa.Column("receipt_id", KEY, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("condition_code", sa.String(length=8), nullable=False),
        sa.Column("damage_code", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["warehouse_receipts.id"],
            name=op.f("fk_receipt_lines_receipt_id_warehouse_receipts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_lines")),
    )
    op.create_index(
        op.f("ix_receipt_lines_receipt_id"), "receipt_lines", ["receipt_id"], unique=False
    )
    op.create_table(
        "edi_control_numbers",
        sa.Column("id", KEY, nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edi_control_numbers")),
        sa.UniqueConstraint("scope", name=op.f("uq_edi_control_numbers_scope")),
    )


def downgrade() -> None:
    op.drop_table("edi_control_numbers")
    op.drop_index(op.f("ix_receipt_lines_receipt_id"), table_name="receipt_lines")
    op.drop_table("receipt_lines")
    op.drop_index(op.f("ix_warehouse_receipts_ra_number"), table_name="warehouse_receipts")
    op.drop_index(op.f("ix_warehouse_receipts_ra_id"), table_name="warehouse_receipts")
    op.drop_table("warehouse_receipts")
    op.drop_index(op.f("ix_ra_lines_ra_id"), table_name="ra_lines")
    op.drop_table("ra_lines")
    op.drop_index(op.f("ix_return_authorizations_state"), table_name="return_authorizations")
    op.drop_table("return_authorizations")

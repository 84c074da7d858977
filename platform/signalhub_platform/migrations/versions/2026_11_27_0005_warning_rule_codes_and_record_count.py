"""warning rule codes and record count

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:28:32.056230
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('risk_warnings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_codes', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('record_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index('ix_risk_warnings_subject_scope', ['subject_key', 'scope_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('risk_warnings', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_warnings_subject_scope')
        batch_op.drop_column('record_count')
        batch_op.drop_column('rule_codes')


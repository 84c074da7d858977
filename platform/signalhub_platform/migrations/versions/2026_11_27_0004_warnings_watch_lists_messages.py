"""warnings, watch-lists, messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:13:09.922696
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('evaluation_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('subjects', sa.Integer(), nullable=False),
    sa.Column('opened', sa.Integer(), nullable=False),
    sa.Column('escalated', sa.Integer(), nullable=False),
    sa.Column('de_escalated', sa.Integer(), nullable=False),
    sa.Column('cleared', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_runs'))
    )
    op.create_table('manual_flags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.Enum('entity', 'person', name='subject_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_manual_flags_agency_id_agencies')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_manual_flags_created_by_id_users')),
    sa.ForeignKeyConstraint(['entity_id'], ['entities.id'], name=op.f('fk_manual_flags_entity_id_entities')),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_manual_flags_lifted_by_id_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_manual_flags_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manual_flags'))
    )
    with op.batch_alter_table('manual_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manual_flags_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_manual_flags_subject_key'), ['subject_key'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sender_user_id', sa.Integer(), nullable=True),
    sa.Column('sender_agency_id', sa.Integer(), nullable=True),
    sa.Column('recipient_user_id', sa.Integer(), nullable=True),
    sa.Column('recipient_agency_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('about_type', sa.String(length=16), nullable=False),
    sa.Column('about_ref', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['recipient_agency_id'], ['agencies.id'], name=op.f('fk_messages_recipient_agency_id_agencies')),
    sa.ForeignKeyConstraint(['recipient_user_id'], ['users.id'], name=op.f('fk_messages_recipient_user_id_users')),
    sa.ForeignKeyConstraint(['sender_agency_id'], ['agencies.id'], name=op.f('fk_messages_sender_agency_id_agencies')),
    sa.ForeignKeyConstraint(['sender_user_id'], ['users.id'], name=op.f('fk_messages_sender_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_recipient_agency_read', ['recipient_agency_id', 'read_at'], unique=False)
        batch_op.create_index('ix_messages_recipient_user_read', ['recipient_user_id', 'read_at'], unique=False)

    op.create_table('risk_warnings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_type', sa.Enum('entity', 'person', name='subject_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('scope_key', sa.String(length=32), nullable=False),
    sa.Column('scope_agency_id', sa.Integer(), nullable=True),
    sa.Column('level', sa.Enum('yellow', 'orange', 'red', name='warning_level', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('open', 'acknowledged', 'in_disposal', 'closed', 'cleared', name='warning_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('measure', sa.Enum('inspection', 'caution', 'penalty', 'interview', 'other', name='warning_measure', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('level_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledge_due_on', sa.Date(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_risk_warnings_assignee_id_users')),
    sa.ForeignKeyConstraint(['entity_id'], ['entities.id'], name=op.f('fk_risk_warnings_entity_id_entities')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_risk_warnings_person_id_persons')),
    sa.ForeignKeyConstraint(['scope_agency_id'], ['agencies.id'], name=op.f('fk_risk_warnings_scope_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_warnings'))
    )
    with op.batch_alter_table('risk_warnings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_warnings_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_warnings_entity_id'), ['entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_warnings_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_risk_warnings_queue', ['is_active', 'level', 'opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_warnings_scope_agency_id'), ['scope_agency_id'], unique=False)
        batch_op.create_index('uq_risk_warnings_active_subject_scope', ['subject_key', 'scope_key'], unique=True, sqlite_where=sa.text('is_active'), postgresql_where=sa.text('is_active'))

    op.create_table('warning_snoozes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('scope_key', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_warning_snoozes_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warning_snoozes'))
    )
    with op.batch_alter_table('warning_snoozes', schema=None) as batch_op:
        batch_op.create_index('ix_warning_snoozes_subject_scope', ['subject_key', 'scope_key'], unique=False)

    op.create_table('watches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('subject_key', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_watches_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watches')),
    sa.UniqueConstraint('user_id', 'subject_key', name=op.f('uq_watches_user_id'))
    )
    with op.batch_alter_table('watches', schema=None) as batch_op:
        batch_op.create_index('ix_watches_subject_key', ['subject_key'], unique=False)

    op.create_table('warning_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warning_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('opened', 'escalated', 'de_escalated', 'evidence_changed', 'cleared', 'assigned', 'acknowledged', 'disposal', 'closed', 'snoozed', 'feedback', 'receipt', 'manual', name='warning_event_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('from_level', sa.String(length=16), nullable=True),
    sa.Column('to_level', sa.String(length=16), nullable=True),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_warning_events_user_id_users')),
    sa.ForeignKeyConstraint(['warning_id'], ['risk_warnings.id'], name=op.f('fk_warning_events_warning_id_risk_warnings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warning_events'))
    )
    with op.batch_alter_table('warning_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_warning_events_warning_id'), ['warning_id'], unique=False)

    op.create_table('warning_receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warning_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_warning_receipts_agency_id_agencies')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_warning_receipts_user_id_users')),
    sa.ForeignKeyConstraint(['warning_id'], ['risk_warnings.id'], name=op.f('fk_warning_receipts_warning_id_risk_warnings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warning_receipts')),
    sa.UniqueConstraint('warning_id', 'agency_id', name=op.f('uq_warning_receipts_warning_id'))
    )
    with op.batch_alter_table('warning_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_warning_receipts_warning_id'), ['warning_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('warning_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_warning_receipts_warning_id'))

    op.drop_table('warning_receipts')
    with op.batch_alter_table('warning_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_warning_events_warning_id'))

    op.drop_table('warning_events')
    with op.batch_alter_table('watches', schema=None) as batch_op:
        batch_op.drop_index('ix_watches_subject_key')

    op.drop_table('watches')
    with op.batch_alter_table('warning_snoozes', schema=None) as batch_op:
        batch_op.drop_index('ix_warning_snoozes_subject_scope')

    op.drop_table('warning_snoozes')
    with op.batch_alter_table('risk_warnings', schema=None) as batch_op:
        batch_op.drop_index('uq_risk_warnings_active_subject_scope', sqlite_where=sa.text('is_active'), postgresql_where=sa.text('is_active'))
        batch_op.drop_index(batch_op.f('ix_risk_warnings_scope_agency_id'))
        batch_op.drop_index('ix_risk_warnings_queue')
        batch_op.drop_index(batch_op.f('ix_risk_warnings_person_id'))
        batch_op.drop_index(batch_op.f('ix_risk_warnings_entity_id'))
        batch_op.drop_index(batch_op.f('ix_risk_warnings_assignee_id'))

    op.drop_table('risk_warnings')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_recipient_user_read')
        batch_op.drop_index('ix_messages_recipient_agency_read')

    op.drop_table('messages')
    with op.batch_alter_table('manual_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manual_flags_subject_key'))
        batch_op.drop_index(batch_op.f('ix_manual_flags_agency_id'))

    op.drop_table('manual_flags')
    op.drop_table('evaluation_runs')

"""Make the audit trail append-only in the database itself.

PostgreSQL refuses UPDATE and DELETE of audit rows (TRUNCATE, an
administrator's whole-table reset, stays possible). SQLite, the embedded
developer database, refuses UPDATE; its test runner empties tables with
DELETE, so DELETE stays allowed there.
"""

from __future__ import annotations

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION allocation_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER allocation_auditevent_append_only
    BEFORE UPDATE OR DELETE ON allocation_auditevent
    FOR EACH ROW EXECUTE FUNCTION allocation_audit_append_only();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS allocation_auditevent_append_only ON allocation_auditevent;
DROP FUNCTION IF EXISTS allocation_audit_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER allocation_auditevent_no_update BEFORE UPDATE ON allocation_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;
"""
SQLITE_REVERSE = "DROP TRIGGER IF EXISTS allocation_auditevent_no_update;"


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def reverse(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("allocation", "0001_initial")]
    operations = [migrations.RunPython(forward, reverse)]

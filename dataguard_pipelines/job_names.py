"""Names of the jobs the CLI and the demo launch by name: one place, no Dagster import (the CLI imports
this before it decides whether it needs Dagster at all). defs/ defines each job under its constant."""

BACK_UP_POSTGRES_JOB = "back_up_postgres_job"
SEAL_CHANGES_JOB = "seal_changes_job"
DRILL_PITR_JOB = "drill_pitr_job"
MIRROR_EXTERNAL_JOB = "mirror_external_job"
VERIFY_MIRRORS_JOB = "verify_mirrors_job"
SNAPSHOT_BILLING_JOB = "snapshot_billing_job"
CHECK_BILLING_JOB = "check_billing_job"
BACK_UP_CRITICAL_TABLES_JOB = "back_up_critical_tables_job"
INSTALL_TABLE_GUARDS_JOB = "install_table_guards_job"
SAFE_MIGRATION_JOB = "safe_migration"
CHECK_AUDIT_TRAIL_JOB = "check_audit_trail_job"

LAUNCHED_BY_NAME = (
    BACK_UP_POSTGRES_JOB,
    SEAL_CHANGES_JOB,
    DRILL_PITR_JOB,
    MIRROR_EXTERNAL_JOB,
    VERIFY_MIRRORS_JOB,
    SNAPSHOT_BILLING_JOB,
    CHECK_BILLING_JOB,
    BACK_UP_CRITICAL_TABLES_JOB,
    INSTALL_TABLE_GUARDS_JOB,
    SAFE_MIGRATION_JOB,
    CHECK_AUDIT_TRAIL_JOB,
)

"""Prevention on the protected database: table guards that stop DROP and TRUNCATE of critical tables
outside the safe-migration gate."""

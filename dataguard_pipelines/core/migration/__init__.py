"""The safe-migration gate: a migration runs on a restored copy first and reaches the real database only
when the copy shows nothing destructive that was not allowed (see gate.py)."""

"""Change capture for point-in-time recovery: a logical replication slot, shipped as sealed segments."""

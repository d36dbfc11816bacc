"""The append-only audit log: who did what to which object, chained by keyed hash."""

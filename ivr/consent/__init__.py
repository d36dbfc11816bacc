"""Consent and frequency: the do-not-call list and the per-number call caps."""

"""A campaign's webhook signing secret, and the signature every POST carries.

The secret is derived, not stored. HMAC needs the secret itself on our side, so it cannot be
kept as a one-way hash the way API tokens are. Encrypting it would need a key, and the only key
an installation has is IVR_SECRET_KEY. Deriving the secret from IVR_SECRET_KEY and a random
per-campaign salt keeps nothing in the database that can sign on its own: a stolen database copy
without the environment cannot forge an outcome, and a new salt (running
`ivr campaigns webhook-secret` again) rotates the secret. The price: changing IVR_SECRET_KEY
changes every campaign's secret, as it already changes the identity hashes and the audit key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "whsec_"  # tells the secret apart from other keys in the customer's configuration


def new_salt() -> str:
    """A random salt for a campaign's next secret."""
    return secrets.token_hex(16)


def derive_secret(secret_key: str, campaign_id: int, salt: str) -> str:
    """The campaign's signing secret, as shown once by `ivr campaigns webhook-secret`."""
    # A key of its own, derived, so the webhook never shares a key with the audit log or hashes.
    key = hmac.new(secret_key.encode(), b"ivr outcome webhook v1", hashlib.sha256).digest()
    mac = hmac.new(key, f"{campaign_id}:{salt}".encode(), hashlib.sha256)
    return PREFIX + mac.hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-IVR-Signature value: sha256=<hex HMAC-SHA256 of "timestamp.body">."""
    # The timestamp is signed with the body, so a captured request replayed later is refused by
    # a receiver that checks the timestamp's age.
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()

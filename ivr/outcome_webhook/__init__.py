"""The outcome webhook: each case's final outcome POSTed to the customer's system, signed.

outbox.py writes an event in the outcome's own transaction; delivery.py POSTs due events (the
`ivr dial` job, `ivr webhooks deliver`) and retries with backoff; signing.py holds the secret and
the signature; payload.py what is sent.
"""

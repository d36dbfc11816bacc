"""Staff accounts and sign-in: who may replay recordings and, later, work the console.

passwords.py  hashing and checking (scrypt), the rules a new password must meet
accounts.py   adding, listing and disabling users (the `ivr users` commands call it)
signin.py     checking a user name and password, with the lock-out counted in the row
auth.py       Flask glue: /auth/login, /auth/logout, the session, require_role
profile.py    the phone an agent's callback rings first, and agents' scopes
cli.py        `ivr users add | list | disable | phone | scope`
"""

"""A contact's e-mail address from a CSV cell: a careful check, not a full RFC 5322 parser.

No e-mail validation library is a dependency, and none is needed for what the importer must
catch: a cell that is plainly not one address (a name, two addresses, a phone number, a typo such
as a missing dot). Deliverability is the mail server's to tell (email.failed on the timeline).
Errors name the rule, never the cell (see ivr.cases.csv_rows).
"""

from __future__ import annotations

import re

__all__ = ["MAX_EMAIL_LENGTH", "parse_email"]

MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit less the angle brackets; Contact.email's length
_MAX_LOCAL = 64
# The dot-atom of RFC 5322: quoted local parts and comments are legal and never seen in
# a customer register; refusing them keeps one row from smuggling a second recipient.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TOP = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def parse_email(text: str) -> str:
    """One address, as name@domain; the domain lower-cased and any non-ASCII domain as IDNA.

    Raises ValueError naming the rule broken (never the cell's text).
    """
    address = text.strip()
    if any(c.isspace() for c in address) or any(c in address for c in ',;<>"()[]\\'):
        raise ValueError("must be one e-mail address such as name@example.com")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local:
        raise ValueError("must be one e-mail address such as name@example.com")
    if len(local) > _MAX_LOCAL or not _LOCAL.fullmatch(local):
        raise ValueError("the part before @ is not a valid mailbox name")
    try:
        # 例子.中国 -> xn--fsqu00a.xn--fiqs8s: what the mail server is given.
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("the part after @ is not a valid domain") from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or not _TOP.fullmatch(labels[-1])
    ):
        raise ValueError("the part after @ is not a domain such as example.com")
    normalised = f"{local}@{ascii_domain}"
    if len(normalised) > MAX_EMAIL_LENGTH:
        raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters")
    return normalised

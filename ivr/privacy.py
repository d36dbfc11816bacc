"""Keeping personal data out of places it does not belong."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """Show only the country code and the last four digits: +86*******8000."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    if len(digits) <= 6:
        return "*" * len(phone)
    head = "+" + digits[:2] if phone.startswith("+") else digits[:2]
    return head + "*" * (len(digits) - 6) + digits[-4:]

"""What one dispatcher pass did: the line `ivr dial` logs per tick, and what tests check."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PassReport:
    """What one dispatcher pass did."""

    claimed: int = 0
    placed: int = 0
    failed: int = 0  # the provider refused or could not be reached
    uncertain: int = 0  # the create's answer was lost; callbacks or the sweep will tell
    rescheduled: int = 0  # due, but outside a calling window now (e.g. the dialler was down)
    missed_deadline: int = 0
    swept: int = 0
    texts: int = 0  # unreachable contacts texted (programs that ask for it)
    emails: int = 0  # unreachable contacts e-mailed (programs that ask for it)
    capped: int = 0  # due, but its campaign or the caller id had every line busy
    paused: bool = False  # the provider could not be reached: nothing dialled this pass
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"claimed {self.claimed}, placed {self.placed}, failed {self.failed}, "
            f"uncertain {self.uncertain}, rescheduled {self.rescheduled}, "
            f"missed deadline {self.missed_deadline}, capped {self.capped}, "
            f"swept {self.swept}, texts {self.texts}, e-mails {self.emails}"
        )
        return f"{text} (paused: provider unreachable)" if self.paused else text

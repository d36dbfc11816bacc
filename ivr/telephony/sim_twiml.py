"""TwiML interpretation for the Twilio simulator: what the callee hears, presses, and when.

The runner follows TwiML the way Twilio does for an answered call: it fetches the voice URL,
executes the verbs in order, requests a Gather's or Redirect's URL and continues with the
document that comes back, and hangs up when a document runs out of verbs. Time is counted, never
slept: a Say lasts about len(text) / 12 s, Chinese characters 1 / 4 s each (at least 1 s), a
silent Gather lasts its timeout. `at` runs a callback once the call time reaches a moment (the
async AMD result): right after the verb during which it falls, so before any later request.

Supported: Say, Play, Pause, Gather (dtmf; nested Say/Play/Pause), Redirect, Hangup, Reject,
Record (the callee stays silent, so the recording is empty: no action request, next verb), and
Dial when the runner is given a `dial` function (sim_dial: the child leg, its action request).
Anything else is noted in `Session.events` and skipped.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urljoin

if TYPE_CHECKING:
    from ivr.telephony.sim_dial import DialOutcome

SAY_CHARS_PER_S = 12.0
SAY_CJK_PER_S = 4.0  # Mandarin text-to-speech says about four characters a second
PLAY_S = 3.0  # the simulator does not fetch audio; a Play counts as this long
KEY_S = 0.5  # time to press one key
GATHER_TIMEOUT_S = 5
RECORD_TIMEOUT_S = 5
APPLICATION_ERROR_S = 3.0  # "We are sorry, an application error has occurred. Goodbye."
MAX_DOCUMENTS = 100  # a Redirect loop ends the call instead of spinning forever


@dataclass(frozen=True)
class Fetched:
    """A webhook's answer: HTTP status (None if it could not be reached) and body."""

    status: int | None
    body: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


# (method, url, extra params beyond the voice request fields) -> the webhook's answer
Fetch = Callable[[str, str, Mapping[str, str]], Fetched]
# (the <Dial>, the document URL, call seconds elapsed, call seconds left) -> what the Dial did
Dial = Callable[[ET.Element, str, float, float], "DialOutcome"]


@dataclass
class Callee:
    """The person who picked up: presses keys at each Gather and may hang up at one."""

    keys: Sequence[str] = ()
    hangup_after_gathers: int | None = None
    gathers: int = 0

    def at_gather(self) -> str | None:
        """Return what is pressed at the next Gather ("" = silence), or None to hang up."""
        if self.hangup_after_gathers is not None and self.gathers >= self.hangup_after_gathers:
            return None
        index = self.gathers
        self.gathers += 1
        return self.keys[index] if index < len(self.keys) else ""


@dataclass
class Session:
    """What happened between answer and hang-up."""

    elapsed_s: float = 0.0
    pressed: list[str] = field(default_factory=list)  # Digits of each Gather, "" = no input
    said: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    ended_by: str = ""  # hangup | end-of-document | callee-hangup | application-error | time-limit
    error_code: int | None = None  # Twilio's error code for an application error

    @property
    def duration_s(self) -> int:
        """CallDuration as Twilio reports it: whole seconds, at least 1 once answered."""
        return max(1, math.ceil(self.elapsed_s))


@dataclass(frozen=True)
class _Next:
    """The document to fetch next."""

    url: str
    method: str
    params: Mapping[str, str]


class _End(Exception):
    """The call is over (raised from deep inside a document)."""

    def __init__(self, ended_by: str) -> None:
        super().__init__(ended_by)
        self.ended_by = ended_by


class TwimlRunner:
    """Executes an answered call's TwiML for one callee."""

    def __init__(
        self,
        fetch: Fetch,
        callee: Callee,
        *,
        time_limit_s: float = 14400.0,
        at: tuple[float, Callable[[], None]] | None = None,
        dial: Dial | None = None,
    ) -> None:
        self._fetch = fetch
        self._dial = dial
        self._callee = callee
        self._time_limit_s = time_limit_s
        self._at = at  # (call time in s, callback): run once, when the call time reaches it
        self.session = Session()

    def run(self, url: str, method: str = "POST") -> Session:
        """Fetch the voice URL and follow the documents until the call ends."""
        step: _Next | None = _Next(url, method.upper(), {})
        try:
            for _ in range(MAX_DOCUMENTS):
                assert step is not None
                root = self._load(step)
                step = self._execute(root, step.url)
                if step is None:
                    raise _End("end-of-document")
            self._application_error(f"more than {MAX_DOCUMENTS} documents", 11200)
        except _End as end:
            self.session.ended_by = end.ended_by
        self._run_due(force=True)  # the call ended first: the result still comes, at the end
        return self.session

    def _run_due(self, *, force: bool = False) -> None:
        if self._at is not None and (force or self.session.elapsed_s >= self._at[0]):
            callback, self._at = self._at[1], None
            callback()

    def _load(self, step: _Next) -> ET.Element:
        fetched = self._fetch(step.method, step.url, step.params)
        if not fetched.ok:
            self._application_error(f"{step.url} answered {fetched.status}", 11200)
        try:
            root = ET.fromstring(fetched.body)
        except ET.ParseError as exc:
            self._application_error(f"{step.url} is not TwiML: {exc}", 12100)
        if root.tag != "Response":
            self._application_error(f"{step.url}: root <{root.tag}> is not <Response>", 12100)
        return root

    def _application_error(self, reason: str, code: int) -> NoReturn:
        # Twilio plays "an application error has occurred" and hangs up.
        self.session.events.append(f"application error {code}: {reason}")
        self.session.error_code = code
        self._spend(APPLICATION_ERROR_S)
        raise _End("application-error")

    def _spend(self, seconds: float) -> None:
        self.session.elapsed_s += seconds
        self._run_due()
        if self.session.elapsed_s >= self._time_limit_s:
            self.session.elapsed_s = self._time_limit_s
            raise _End("time-limit")

    def _execute(self, root: ET.Element, doc_url: str) -> _Next | None:
        for verb in root:
            if verb.tag in ("Say", "Play", "Pause"):
                self._prompt(verb)
            elif verb.tag == "Gather":
                step = self._gather(verb, doc_url)
                if step is not None:
                    return step
            elif verb.tag == "Redirect":
                target = urljoin(doc_url, (verb.text or "").strip() or doc_url)
                self.session.events.append(f"redirect {target}")
                return _Next(target, verb.get("method", "POST").upper(), {})
            elif verb.tag == "Dial" and self._dial is not None:
                step = self._run_dial(verb, doc_url)
                if step is not None:
                    return step
            elif verb.tag in ("Hangup", "Reject"):
                self.session.events.append(verb.tag.lower())
                raise _End("hangup")
            elif verb.tag == "Record":
                timeout = _int(verb.get("timeout"), RECORD_TIMEOUT_S)
                self.session.events.append("record: silence, empty recording, no action")
                self._spend(timeout)
            else:
                self.session.events.append(f"unsupported verb <{verb.tag}> skipped")
        return None

    def _run_dial(self, verb: ET.Element, doc_url: str) -> _Next | None:
        assert self._dial is not None
        elapsed_s = self.session.elapsed_s
        outcome = self._dial(verb, doc_url, elapsed_s, self._time_limit_s - elapsed_s)
        self.session.events.extend(outcome.events)
        self._spend(outcome.spent_s)  # the caller waits out the ringing and the bridged talk
        if outcome.action is None:
            return None
        url, method = outcome.action
        return _Next(url, method, outcome.fields)

    def _prompt(self, verb: ET.Element) -> None:
        loops = max(1, _int(verb.get("loop"), 1))
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            self.session.said.append(text)
            self.session.events.append(f"say: {text}")
            self._spend(loops * say_s(text))
        elif verb.tag == "Play":
            self.session.events.append(f"play: {(verb.text or '').strip()}")
            self._spend(loops * PLAY_S)
        else:
            length = _int(verb.get("length"), 1)
            self.session.events.append(f"pause: {length}s")
            self._spend(length)

    def _gather(self, verb: ET.Element, doc_url: str) -> _Next | None:
        keys = self._callee.at_gather()
        if keys is None:
            self.session.events.append("callee hangs up at gather")
            self._spend(1.0)
            raise _End("callee-hangup")
        for child in verb:
            if child.tag in ("Say", "Play", "Pause"):
                self._prompt(child)
            else:
                self.session.events.append(f"unsupported <{child.tag}> in <Gather> skipped")
        if "dtmf" not in verb.get("input", "dtmf").split():
            keys = ""  # speech only: the simulated callee never speaks
        finish_on_key = verb.get("finishOnKey", "#")
        num_digits = _int(verb.get("numDigits"), 0)
        digits, finished_on = "", ""
        for key in keys:
            self._spend(KEY_S)
            if finish_on_key and key in finish_on_key:
                finished_on = key
                break
            digits += key
            if num_digits and len(digits) >= num_digits:
                break
        else:
            # Out of keys without finishing: Twilio waits `timeout` seconds for another digit.
            self._spend(_int(verb.get("timeout"), GATHER_TIMEOUT_S))
        self.session.pressed.append(digits)
        self.session.events.append(f"gather: {digits or 'no input'}")
        if not digits and verb.get("actionOnEmptyResult", "false").lower() != "true":
            return None  # no input: fall through to the next verb
        action = urljoin(doc_url, verb.get("action") or doc_url)
        params = {"Digits": digits, "FinishedOnKey": finished_on, "msg": "Gather End"}
        return _Next(action, verb.get("method", "POST").upper(), params)


def say_s(text: str) -> float:
    """How long text-to-speech takes to say text once, in seconds (at least 1)."""
    cjk = sum(1 for char in text if "\u4e00" <= char <= "\u9fff")
    return max(1.0, cjk / SAY_CJK_PER_S + (len(text) - cjk) / SAY_CHARS_PER_S)


def _int(value: str | None, default: int) -> int:
    """Parse an integer attribute; Twilio falls back to the default for junk."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default

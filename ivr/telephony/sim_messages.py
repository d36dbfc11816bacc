"""Text messages in the Twilio simulator: the create's checks, the resource, delivery reports.

What Twilio does, and the simulator with it (Messages resource and status callback guides,
twilio.com/docs/messaging/...):
- the create answers 201 with status `queued`, or `accepted` when sent through a Messaging
  Service (MessagingServiceSid), and no callback is sent for that initial status;
- then each change is POSTed, form-encoded and signed, to StatusCallback: (`queued` after
  `accepted`), `sent`, then `delivered` or `undelivered`; `failed` when it never left;
- a callback carries AccountSid, ApiVersion, From, To, MessageSid and MessageStatus, the legacy
  SmsSid and SmsStatus with the same values, ErrorCode when delivery failed, MessagingServiceSid
  with a service, and RawDlrDoneDate (YYMMDDhhmm, the carrier's receipt) on delivered and
  undelivered.
Refused creates use Twilio's codes: 21604 no To, 21603 no From nor MessagingServiceSid, 21602
no Body, 21211 invalid To, 21614 not a mobile number, 21610 the recipient replied STOP.

A contact's reply goes the other way: Twilio POSTs it, form-encoded and signed, to the number's
incoming-message URL (SmsUrl) with MessageSid, the legacy SmsSid and SmsMessageSid (same value),
SmsStatus `received`, AccountSid, From, To, Body, NumMedia, NumSegments, ApiVersion, the
geographic From*/To* fields (empty where unknown) and MessagingServiceSid when the number is in a
service; the TwiML answer's <Message> is texted back (twilio.com/docs/messaging/guides/
webhook-request). ``inbound_fields`` builds that form and ``deliver_inbound`` posts it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ivr.telephony.sim_calls import Exchange, Persona
from ivr.telephony.sim_format import (
    API_VERSION,
    COUNTRIES,
    Json,
    error_response,
    new_sid,
    rfc2822,
)

if TYPE_CHECKING:
    from ivr.telephony.simulator import Simulator

SMS_OUTCOMES = ("delivered", "undelivered", "failed")  # Persona.sms_delivery
SERVICE_SENDER = "+15005550006"  # the number a Messaging Service picks from its pool
SENT_AFTER_S = 1.0  # simulated seconds from the create to `sent`
DELIVERED_AFTER_S = 4.0  # ... and to the carrier's delivery receipt
CONNECT_S, READ_S = 5.0, 15.0  # Twilio's webhook timeouts
DLR_FORMAT = "%y%m%d%H%M"  # RawDlrDoneDate: minutes, no time zone


@dataclass
class SimMessage:
    """One outbound text message: what was asked for and what happened, for tests to inspect."""

    sid: str
    to: str
    from_: str
    body: str
    params: MultiDict[str, str]  # the create request's form
    created_at: datetime
    status: str = "queued"  # the latest status: queued | accepted | sent | delivered | ...
    statuses: list[str] = field(default_factory=list)  # each one reported, in order
    error_code: int | None = None
    sent_at: datetime | None = None
    http: list[Exchange] = field(default_factory=list)  # status callbacks made
    done: threading.Event = field(default_factory=threading.Event)


def refusal(form: Mapping[str, str], persona: Persona, e164: bool) -> Response | None:
    """Twilio's 400 for a create it refuses, or None to accept it."""
    to = form.get("To", "").strip()
    if not to:
        return error_response(400, 21604, "A 'To' phone number is required.")
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return error_response(
            400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"
        )
    if not form.get("Body") and not form.get("MediaUrl"):
        return error_response(400, 21602, "Message body is required.")
    callback = form.get("StatusCallback")
    if callback and urlsplit(callback).scheme not in ("http", "https"):
        return error_response(400, 21609, f"StatusCallback is not a valid URL: {callback}")
    if not e164 or persona.invalid_number:
        return error_response(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not persona.sms:
        return error_response(400, 21614, f"'To' number {to} is not a valid mobile number")
    if persona.sms_opted_out:
        return error_response(400, 21610, "Attempt to send to unsubscribed recipient")
    return None


def new_message(form: MultiDict[str, str], created_at: datetime, rng: random.Random) -> SimMessage:
    """The message an accepted create makes, in its initial status."""
    service = form.get("MessagingServiceSid", "")
    return SimMessage(
        sid=new_sid("SM", rng),
        to=form["To"].strip(),
        from_=form.get("From") or SERVICE_SENDER,
        body=form.get("Body", ""),
        params=form.copy(),
        created_at=created_at,
        status="accepted" if service else "queued",
    )


def message_resource(account_sid: str, message: SimMessage) -> Json:
    """The Message resource as the REST API writes it."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    service = message.params.get("MessagingServiceSid") or None
    updated = message.sent_at or message.created_at
    return {
        "sid": message.sid,
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.created_at),
        "date_sent": rfc2822(message.sent_at) if message.sent_at else None,
        "date_updated": rfc2822(updated),
        "direction": "outbound-api",
        "error_code": message.error_code,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": "0" if service else "1",  # a service assigns the sender later
        "price": None,
        "price_unit": "USD",
        "status": message.status,
        "to": message.to,
        "uri": f"{uri}.json",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }


class MessageRun:
    """One message's delivery on a worker thread: its status changes, reported to StatusCallback."""

    def __init__(
        self, sim: Simulator, message: SimMessage, persona: Persona, rng: random.Random
    ) -> None:
        self.sim, self.message, self.persona, self.rng = sim, message, persona, rng

    def run(self) -> None:
        """Move the message to its final status; whatever happens, mark it done."""
        http = requests.Session()
        http.trust_env = False  # webhooks go where the URL says, never via an env proxy
        try:
            self._run(http)
        except Exception as exc:  # a simulator bug must not leave drain() waiting forever
            self.message.statuses.append(f"simulator error: {exc!r}")
        finally:
            http.close()
            self.message.done.set()

    def _run(self, http: requests.Session) -> None:
        message, outcome = self.message, self.persona.sms_delivery
        if outcome not in SMS_OUTCOMES:
            raise ValueError(f"Persona.sms_delivery must be one of {SMS_OUTCOMES}: {outcome!r}")
        if message.status == "accepted":  # a Messaging Service queues it first
            self._report(http, "queued")
        if outcome == "failed":  # never left Twilio
            return self._report(http, "failed", error=True)
        message.sent_at = message.created_at + timedelta(seconds=SENT_AFTER_S)
        self._report(http, "sent")
        done_at = message.created_at + timedelta(seconds=DELIVERED_AFTER_S)
        self._report(http, outcome, error=outcome == "undelivered", receipt_at=done_at)

    def _report(
        self,
        http: requests.Session,
        status: str,
        *,
        error: bool = False,
        receipt_at: datetime | None = None,
    ) -> None:
        message = self.message
        message.status = status
        message.statuses.append(status)
        if error:
            message.error_code = self.persona.sms_error_code
        url = message.params.get("StatusCallback")
        if not url:
            return
        fields = {
            "AccountSid": self.sim.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "To": message.to,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if service := message.params.get("MessagingServiceSid"):
            fields["MessagingServiceSid"] = service
        if message.error_code is not None:
            fields["ErrorCode"] = str(message.error_code)
        if receipt_at is not None:
            fields["RawDlrDoneDate"] = receipt_at.strftime(DLR_FORMAT)
        self._post(http, url, fields)

    def _post(self, http: requests.Session, url: str, fields: Mapping[str, str]) -> None:
        """POST one signed callback the way Twilio does: timeouts, one retry if not connected."""
        target = url.partition("#")[0]  # a fragment is never sent
        prepared = requests.Request("POST", target, data=dict(fields)).prepare()
        assert prepared.url is not None
        prepared.headers["X-Twilio-Signature"] = self.sim.validator.compute_signature(
            prepared.url, fields
        )
        prepared.headers["I-Twilio-Idempotency-Token"] = new_sid("", self.rng)
        prepared.headers["User-Agent"] = "TwilioProxy/1.1"
        for _ in range(2):
            try:
                response = http.send(prepared, timeout=(CONNECT_S, READ_S))
            except requests.ConnectionError as exc:  # not connected: Twilio tries once more
                self._log(prepared.url, fields, None, error=repr(exc))
                continue
            except requests.RequestException as exc:  # read timeout and kin: no retry
                self._log(prepared.url, fields, None, error=repr(exc))
                return
            self._log(prepared.url, fields, response.status_code, response.text)
            return

    def _log(
        self,
        url: str,
        fields: Mapping[str, str],
        status: int | None,
        body: str = "",
        error: str = "",
    ) -> None:
        self.message.http.append(
            Exchange("sms-status", "POST", url, dict(fields), status, body, error)
        )


# GSM 03.38's basic set: a text only of these goes 160 characters a segment (153 when split);
# any other character makes the whole text UCS-2, 70 a segment (67 when split).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def segments(body: str) -> int:
    """How many SMS segments a text takes, as NumSegments counts them."""
    if all(c in _GSM7 for c in body):
        length, single, split = len(body), 160, 153
    else:
        length, single, split = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if length <= single else -(-length // split)


def country_of(number: str) -> str:
    """The ISO country of an E.164 number the simulator knows, else "" (Twilio leaves it empty)."""
    for prefix in sorted(COUNTRIES, key=len, reverse=True):
        if number.startswith(prefix):
            return COUNTRIES[prefix]
    return ""


def inbound_fields(
    *, account_sid: str, message_sid: str, from_: str, to: str, body: str, service_sid: str = ""
) -> dict[str, str]:
    """The form Twilio posts to a number's incoming-message URL for one text received."""
    fields = {
        "ToCountry": country_of(to),
        "ToState": "",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": message_sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": country_of(from_),
        "To": to,
        "ToZip": "",
        "NumSegments": str(segments(body)),
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if service_sid:
        fields["MessagingServiceSid"] = service_sid
    return fields


@dataclass(frozen=True)
class InboundReply:
    """A text a contact sent, as delivered to the incoming-message URL, and the answer."""

    message_sid: str
    exchange: Exchange  # the request made and its response

    @property
    def twiml(self) -> str:
        """The TwiML the webhook answered with ("" when it did not answer)."""
        return self.exchange.body


def deliver_inbound(
    validator: RequestValidator, url: str, fields: Mapping[str, str], rng: random.Random
) -> InboundReply:
    """POST one signed incoming-message webhook as Twilio does (its timeouts, one retry if not
    connected); returns what was answered."""
    target = url.partition("#")[0]  # a fragment is never sent
    prepared = requests.Request("POST", target, data=dict(fields)).prepare()
    assert prepared.url is not None
    prepared.headers["X-Twilio-Signature"] = validator.compute_signature(prepared.url, fields)
    prepared.headers["I-Twilio-Idempotency-Token"] = new_sid("", rng)
    prepared.headers["User-Agent"] = "TwilioProxy/1.1"
    sid = fields["MessageSid"]
    exchange = Exchange("sms-in", "POST", prepared.url, dict(fields), None, "", "no attempt")
    with requests.Session() as http:
        http.trust_env = False  # webhooks go where the URL says, never via an env proxy
        for _ in range(2):
            try:
                response = http.send(prepared, timeout=(CONNECT_S, READ_S))
            except requests.ConnectionError as exc:  # not connected: Twilio tries once more
                exchange = Exchange(
                    "sms-in", "POST", prepared.url, dict(fields), None, "", repr(exc)
                )
                continue
            except requests.RequestException as exc:  # read timeout and kin: no retry
                exchange = Exchange(
                    "sms-in", "POST", prepared.url, dict(fields), None, "", repr(exc)
                )
                break
            exchange = Exchange(
                "sms-in", "POST", prepared.url, dict(fields), response.status_code, response.text
            )
            break
    return InboundReply(sid, exchange)

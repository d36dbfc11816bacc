"""The provider's incoming-message webhook: a contact's reply to the unreachable text.

Configure it as the phone number's (or Messaging Service's) incoming-message URL, method POST:
``{IVR_PUBLIC_BASE_URL}/twilio/sms``. Twilio posts the message form-encoded and signed
(MessageSid, SmsSid, AccountSid, From, To, Body, NumMedia, NumSegments, geographic fields, and
MessagingServiceSid when the number is in a service) and sends the <Message> of our TwiML answer
back to the sender. What the reply does is ivr.queue.replies.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from twilio.twiml.messaging_response import MessagingResponse

from ivr.app import current_services
from ivr.queue.replies import Inbound, handle_reply
from ivr.webhooks.signature import require_provider_signature

bp = Blueprint("twilio_sms", __name__, url_prefix="/twilio")

# Every route here faces the provider: signed or refused, before anything else.
bp.before_request(require_provider_signature)


@bp.post("/sms")
def incoming_message() -> Response:
    """Store and act on one incoming text; answer with TwiML (a confirmation, or nothing)."""
    form = request.form
    # SmsSid is the legacy name of the same id; either identifies the message.
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    sender = form.get("From", "").strip()
    if not message_sid or not sender:
        abort(400, description="form fields MessageSid and From are required")
    services = current_services()
    with services.sessions.begin() as session:
        outcome = handle_reply(
            session,
            services,
            Inbound(message_sid, sender, form.get("Body", "")),
            now=services.clock(),
        )
    twiml = MessagingResponse()
    if outcome.answer is not None:
        twiml.message(outcome.answer)
    return Response(str(twiml), mimetype="application/xml")

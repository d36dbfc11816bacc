"""What the provider is asked to do for a claimed attempt: the call, its callbacks and options."""

from __future__ import annotations

from ivr.campaigns.options import CampaignConfig
from ivr.services import Services
from ivr.telephony.port import CallRequest
from scheduler.reconcile import TIME_LIMIT_S


def call_request(
    services: Services, attempt_id: int, to: str, config: CampaignConfig
) -> CallRequest:
    """The create for attempt `attempt_id` to `to`; its id is in every callback URL."""
    query = f"?attempt={attempt_id}"
    return CallRequest(
        attempt_id=attempt_id,
        to=to,
        from_=services.settings.twilio_from_number,
        voice_url=services.url(f"/twilio/voice{query}"),
        status_callback_url=services.url(f"/twilio/status{query}"),
        recording_callback_url=services.url(f"/twilio/recording{query}"),
        amd_callback_url=services.url(f"/twilio/amd{query}"),
        record=config.record,
        ring_timeout_s=config.ring_timeout_s,
        time_limit_s=TIME_LIMIT_S,
        # A message for a machine must wait for the beep, which only DetectMessageEnd waits for.
        detect_message_end=config.machine == "message",
    )

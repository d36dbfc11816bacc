"""The simulator's recording endpoints: pause/resume a live recording, media, metadata, delete.

A mixin of Simulator (ivr.telephony.simulator), kept apart so that each module stays one subject.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from ivr.telephony.sim_calls import PAUSE_BEHAVIORS, RECORDING_STATUSES, LiveRecording, SimRecording
from ivr.telephony.sim_format import (
    API_VERSION,
    Json,
    error_response,
    json_response,
    not_found,
    rfc2822,
)
from ivr.telephony.sim_media import recording_wav

if TYPE_CHECKING:
    from ivr.telephony.sim_call_run import CallRun


class RecordingEndpoints:
    """REST handlers for recordings; the Simulator provides the state they read."""

    account_sid: str
    media_not_ready: int
    stored_recordings: dict[str, SimRecording]
    deleted_recordings: list[str]
    _lock: threading.Lock
    _runs: dict[str, CallRun]

    @property
    def base_url(self) -> str:
        """The REST base URL (the Simulator's)."""
        raise NotImplementedError

    def _update_call_recording(self, request: Request, call_sid: str, sid: str) -> Response:
        status = request.form.get("Status", "")
        behavior = request.form.get("PauseBehavior") or "silence"  # Twilio's default
        if status not in RECORDING_STATUSES:
            return error_response(400, 20001, f"Invalid Status: {status!r}")
        if behavior not in PAUSE_BEHAVIORS:
            return error_response(400, 20001, f"Invalid PauseBehavior: {behavior!r}")
        with self._lock:
            run = self._runs.get(call_sid)
        # Outside self._lock: the call's own lock is enough, and other calls go on meanwhile.
        live = run.update_recording(sid, status, behavior) if run is not None else None
        if run is None or live is None:
            return not_found(request)
        return json_response(200, self._live_recording_resource(run, live))

    def _live_recording_resource(self, run: CallRun, live: LiveRecording) -> Json:
        call = run.call
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}/Recordings/{live.sid}"
        answered_at = run.answered_at()
        return {
            "sid": live.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": call.sid,
            "conference_sid": None,
            "date_created": rfc2822(answered_at),
            "date_updated": rfc2822(answered_at),
            "start_time": rfc2822(answered_at),
            "duration": "-1",  # still recording
            "channels": 2 if call.params.get("RecordingChannels") == "dual" else 1,
            "source": "OutboundAPI",
            "status": live.status,
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "track": "both",
            "uri": f"{uri}.json",
        }

    def _recording(self, request: Request, name: str) -> Response:
        sid, _, extension = name.partition(".")
        with self._lock:
            recording = self.stored_recordings.get(sid)
            if recording is not None and request.method == "GET" and extension != "json":
                recording.media_requests += 1
        if recording is None:
            return not_found(request)
        if request.method == "DELETE":
            with self._lock:
                del self.stored_recordings[sid]
                self.deleted_recordings.append(sid)
            return Response(status=204)
        if extension == "json":
            return json_response(200, self._recording_resource(recording))
        if recording.media_requests <= self.media_not_ready:
            return not_found(request)  # Twilio's media can 404 briefly after the callback
        if extension not in ("", "wav"):
            return error_response(415, 20415, f"Unsupported media format: .{extension}")
        body = recording_wav(recording.span_s, channels=recording.channels, paused=recording.paused)
        return Response(body, status=200, mimetype="audio/x-wav")

    def _recording_resource(self, recording: SimRecording) -> Json:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording.sid}"
        return {
            "sid": recording.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": rfc2822(recording.created_at),
            "date_updated": rfc2822(recording.created_at),
            "start_time": rfc2822(recording.started_at),
            "duration": str(recording.duration_s),
            "channels": recording.channels,
            "source": recording.source,
            "status": "completed",
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "media_url": f"{self.base_url}{uri}",
            "uri": f"{uri}.json",
            "subresource_uris": {"transcriptions": f"{uri}/Transcriptions.json"},
        }

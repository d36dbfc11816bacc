"""The Twilio adapter's HTTP: a cap on requests in flight, safe retries, JSON GETs and paging."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse

from ivr.privacy import redact_phones
from ivr.telephony.port import TelephonyError
from ivr.telephony.twilio_errors import TWILIO_ERRORS, backoff_ceiling, is_429, nothing_sent

T = TypeVar("T")

BACKOFF_MAX_S = 30.0  # no single sleep longer than this, whatever the retry count
GET_RETRIES = 3  # a GET (list, fetch) is repeated after a 429, a 5xx or a lost connection
GET_BACKOFF_BASE_S = 0.5
DOWNLOAD_RETRIES = 2
DOWNLOAD_BACKOFF_BASE_S = 0.5


class CappedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The library's HTTP client, taking one of the adapter's in-flight slots per request."""

    def __init__(self, slots: threading.BoundedSemaphore, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._slots = slots

    def request(self, *args: Any, **kwargs: Any) -> TwilioResponse:
        """Send one request once a slot is free; the slot is held until its answer is read."""
        with self._slots:
            return super().request(*args, **kwargs)


class RestSession:
    """Authenticated requests under the in-flight cap, with backoff that has full jitter."""

    def __init__(
        self,
        *,
        auth: tuple[str, str],
        timeout: tuple[float, float],
        slots: threading.BoundedSemaphore,
        sleep: Callable[[float], None],
        jitter: Callable[[float], float],
    ) -> None:
        self._auth = auth
        self._timeout = timeout
        self._slots = slots
        self._sleep = sleep
        self._jitter = jitter
        self._session = requests.Session()

    def backoff(self, attempt: int, base_s: float) -> None:
        """Sleep before retry `attempt` (0 first): full jitter under an exponential ceiling."""
        self._sleep(self._jitter(backoff_ceiling(attempt, base_s, BACKOFF_MAX_S)))

    def retry_429(self, send: Callable[[], T], *, retries: int, base_s: float) -> T:
        """Run a library request, repeating it after Twilio's 429 at most `retries` times."""
        # A 429 is refused before any processing, so even a create is safe to repeat.
        attempt = 0
        while True:
            try:
                return send()
            except TWILIO_ERRORS as exc:
                if not is_429(exc) or attempt >= retries:
                    raise
            self.backoff(attempt, base_s)
            attempt += 1

    def get_json(self, url: str, params: Mapping[str, str], action: str) -> dict[str, Any]:
        """GET a JSON resource; 429, 5xx and lost connections are retried (a GET is safe)."""
        attempt = 0
        while True:
            failure: TelephonyError
            try:
                with self._slots:
                    response = self._session.get(
                        url, params=dict(params), auth=self._auth, timeout=self._timeout
                    )
            except requests.RequestException as exc:
                failure = TelephonyError(
                    f"could not {action} ({type(exc).__name__})", unavailable=nothing_sent(exc)
                )
            else:
                status = response.status_code
                if 200 <= status < 300:
                    payload = _json_or_none(response)
                    if isinstance(payload, dict):
                        return payload
                    failure = TelephonyError(f"could not {action}: the answer is not JSON")
                else:
                    failure = http_error(response, action)
                    if status != 429 and status < 500:
                        raise failure  # a 404 or a refusal: asking again changes nothing
            if attempt >= GET_RETRIES:
                raise failure
            self.backoff(attempt, GET_BACKOFF_BASE_S)
            attempt += 1

    def get_pages(
        self, base_url: str, url: str, params: Mapping[str, str], action: str, max_pages: int
    ) -> Iterator[dict[str, Any]]:
        """The pages of a list resource, following next_page_uri, at most max_pages of them."""
        next_url: str | None = url
        query: Mapping[str, str] = params
        for _ in range(max_pages):
            if next_url is None:
                return
            page = self.get_json(next_url, query, action)
            yield page
            next_uri = page.get("next_page_uri")
            # Relative to the API's host; it carries the query (and its PageToken) itself.
            next_url = urljoin(base_url + "/", next_uri) if isinstance(next_uri, str) else None
            query = {}

    def get_media(self, url: str) -> requests.Response:
        """GET with the account's credentials, retrying connection failures (GET is safe)."""
        attempt = 0
        while True:
            try:
                # requests drops the Authorization header if the media redirects to another host.
                with self._slots:
                    return self._session.get(url, auth=self._auth, timeout=self._timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= DOWNLOAD_RETRIES:
                    raise TelephonyError(
                        f"recording download failed after {attempt + 1} tries "
                        f"({type(exc).__name__}): {url}",
                        unavailable=nothing_sent(exc),
                    ) from exc
            self.backoff(attempt, DOWNLOAD_BACKOFF_BASE_S)
            attempt += 1


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def http_error(response: requests.Response, action: str) -> TelephonyError:
    """A TelephonyError from a non-2xx answer carrying Twilio's error body (code, message)."""
    body = _json_or_none(response)
    code: int | None = None
    message = response.reason or ""
    if isinstance(body, dict):
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = str(body.get("message") or message)
    # Twilio's messages can quote the number a list was filtered on.
    message = redact_phones(message)
    return TelephonyError(
        f"Twilio refused to {action} (HTTP {response.status_code}, code {code}): {message}",
        code=code,
        http_status=response.status_code,
    )

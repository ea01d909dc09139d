"""The RFC 6749 §6 refresh grant, without I/O: what to send, what the answer means.

:meth:`RefreshGrant.steps` is a generator that yields :class:`Send` and
:class:`Sleep` steps and receives each send's outcome (a response, or the
network error). The sync and async auth flows drive the same generator,
so retries, backoff and the reading of answers are written once, like an
h11 state machine with time and the network passed in.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal
from urllib.parse import quote

from ..errors import MissingExtraError

try:
    import httpx
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        "refreshkit.client needs httpx: pip install 'refreshkit[client]'"
    ) from _missing

from ..errors import ConfigurationError, RefreshUnavailableError, SessionExpiredError
from .tokens import Tokens

__all__ = ["Backoff", "CookieRefresh", "RefreshGrant", "Send", "Sleep", "Step"]

logger = logging.getLogger("refreshkit.client")

#: OAuth errors meaning "this refresh token will never work again" (RFC 6749 §5.2).
_SESSION_OVER = frozenset({"invalid_grant"})


@dataclass(frozen=True, slots=True)
class CookieRefresh:
    """Cookie mode: send the refresh token as a cookie, with a CSRF header.

    The defaults match refreshkit's adapters (double-submit CSRF): the
    refresh token travels in ``cookie_name``, the CSRF token in
    ``csrf_cookie_name`` and again in ``csrf_header_name``. New values are
    read from the ``Set-Cookie`` headers of each refresh response.
    ``csrf_cookie_name=None`` suits servers that only require the header.
    The default names carry the ``__Secure-`` / ``__Host-`` prefixes the
    adapters give them over HTTPS; against a development server with
    ``cookie_secure=False`` pass the bare ``refresh_token`` / ``refresh_csrf``.
    """

    cookie_name: str = "__Secure-refresh_token"
    csrf_cookie_name: str | None = "__Host-refresh_csrf"
    csrf_header_name: str = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Bounded exponential backoff for an unavailable token endpoint.

    ``retries`` more attempts after the first, waiting ``initial * 2**n``
    seconds before retry ``n`` (never more than ``maximum``). A server's
    ``Retry-After`` lengthens a wait, up to ``maximum``.
    """

    retries: int = 3
    initial: float = 0.5
    maximum: float = 8.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.initial < 0 or self.maximum < 0:
            raise ConfigurationError("retries and backoff delays cannot be negative")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        wait = self.initial * 2.0**retry
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self.maximum, wait)


@dataclass(frozen=True, slots=True)
class Send:
    """Step: send this refresh request and resume with its (read) response or network error."""

    request: httpx.Request


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step: wait this many seconds, then resume with None."""

    seconds: float


Step = Send | Sleep
#: What a driver sends back into the steps: the response, a network error, or None.
Outcome = httpx.Response | httpx.TransportError | None


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """How to refresh at one authorization server (RFC 6749 §6).

    ``token_url`` may be absolute or relative to the URL of the request
    being authenticated. Client credentials go in HTTP Basic
    (``client_auth="basic"``, RFC 6749 §2.3.1) or the body; a client with an
    id and no secret (a public client) sends ``client_id`` in the body.
    """

    token_url: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    client_auth: Literal["basic", "body"] = "basic"
    scope: str | None = None
    cookie: CookieRefresh | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.client_auth not in ("basic", "body"):
            raise ConfigurationError("client_auth must be 'basic' or 'body'")
        if self.client_secret is not None and self.client_id is None:
            raise ConfigurationError("client_secret needs a client_id")

    def request(self, tokens: Tokens, origin: httpx.URL) -> httpx.Request:
        """The refresh request for ``tokens``, its URL resolved against ``origin``.

        Raises :class:`~refreshkit.errors.SessionExpiredError` when there is
        no refresh token to send.
        """
        if not tokens.refresh_token:
            raise SessionExpiredError("no refresh token: log in again")
        form = {"grant_type": "refresh_token"}
        headers = {"Accept": "application/json"}
        if self.cookie is None:
            form["refresh_token"] = tokens.refresh_token
        else:
            headers["Cookie"] = self._cookie_header(tokens)
            headers[self.cookie.csrf_header_name] = tokens.csrf_token or "1"
        if self.scope:
            form["scope"] = self.scope
        if self.client_id is not None:
            if self.client_secret is not None and self.client_auth == "basic":
                # RFC 6749 §2.3.1: form-encode id and secret before Basic encoding.
                headers["Authorization"] = _basic_credentials(self.client_id, self.client_secret)
            else:
                form["client_id"] = self.client_id
                if self.client_secret is not None:
                    form["client_secret"] = self.client_secret
        return httpx.Request("POST", origin.join(self.token_url), data=form, headers=headers)

    def steps(
        self, tokens: Tokens, origin: httpx.URL, clock: Callable[[], float]
    ) -> Generator[Step, Outcome, Tokens]:
        """Refresh ``tokens``: send, retry outages with backoff, read the answer.

        Returns the new :class:`Tokens`. Raises
        :class:`~refreshkit.errors.SessionExpiredError` on ``invalid_grant``,
        :class:`~refreshkit.errors.RefreshUnavailableError` when 5xx, 429 or
        network errors outlast the retries, and
        :class:`~refreshkit.errors.ConfigurationError` on any other refusal
        (a wrong URL, client credentials or scope). ``tokens`` are never
        discarded here: the caller keeps them unless this returns.
        """
        retries = self.backoff.retries
        for attempt in range(retries + 1):
            outcome = yield Send(self.request(tokens, origin))
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return self._read_success(outcome, tokens, clock())
            if isinstance(outcome, httpx.Response) and not _is_outage(outcome):
                raise self._refusal(outcome)
            status = outcome.status_code if isinstance(outcome, httpx.Response) else None
            retry_after = _retry_after(outcome) if isinstance(outcome, httpx.Response) else None
            if attempt == retries:
                what = f"HTTP {status}" if status is not None else type(outcome).__name__
                raise RefreshUnavailableError(
                    f"the token endpoint is unavailable ({what}) after {attempt + 1} "
                    "attempts; the refresh token was kept, try again later",
                    retry_after=max(1, round(retry_after or 1)),
                    attempts=attempt + 1,
                    status=status,
                ) from (outcome if isinstance(outcome, Exception) else None)
            delay = self.backoff.delay(attempt, retry_after)
            logger.warning(
                "refresh attempt %d failed (%s); retrying in %.1fs",
                attempt + 1,
                status if status is not None else type(outcome).__name__,
                delay,
            )
            yield Sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -------------------------------------------------------------- answers

    def _read_success(self, response: httpx.Response, previous: Tokens, now: float) -> Tokens:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConfigurationError(
                f"the token endpoint answered {response.status_code} without a JSON token "
                "response: check token_url"
            )
        tokens = Tokens.from_token_response(body, now=now, previous=previous)
        if self.cookie is not None:
            tokens = self._with_cookies(tokens, response)
        logger.debug("access token refreshed")
        return tokens

    def _refusal(self, response: httpx.Response) -> Exception:
        error, description = _oauth_error(response)
        if error in _SESSION_OVER:
            detail = f": {description}" if description else ""
            return SessionExpiredError(
                f"the refresh token was refused ({error}{detail}); log in again",
                error=error,
                status=response.status_code,
            )
        return ConfigurationError(
            f"the token endpoint refused the refresh with {response.status_code} "
            f"{error or 'and no OAuth error'}"
            f"{': ' + description if description else ''}; check token_url, client "
            "credentials, scope and cookie mode"
        )

    def _cookie_header(self, tokens: Tokens) -> str:
        assert self.cookie is not None
        pairs = [f"{self.cookie.cookie_name}={tokens.refresh_token}"]
        if self.cookie.csrf_cookie_name and tokens.csrf_token:
            pairs.append(f"{self.cookie.csrf_cookie_name}={tokens.csrf_token}")
        return "; ".join(pairs)

    def _with_cookies(self, tokens: Tokens, response: httpx.Response) -> Tokens:
        """``tokens`` with the refresh and CSRF tokens the response set as cookies."""
        assert self.cookie is not None
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.get_list("set-cookie"):
            try:
                jar.load(header)
            except CookieError:
                continue
        refresh = jar.get(self.cookie.cookie_name)
        csrf = jar.get(self.cookie.csrf_cookie_name) if self.cookie.csrf_cookie_name else None
        changes: dict[str, Any] = {}
        if refresh is not None and refresh.value:
            changes["refresh_token"] = refresh.value
        if csrf is not None and csrf.value:
            changes["csrf_token"] = csrf.value
        return dataclasses.replace(tokens, **changes) if changes else tokens


def _is_outage(response: httpx.Response) -> bool:
    """5xx and 429: the server may answer differently later, so retry."""
    return response.status_code >= 500 or response.status_code == 429


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when given as seconds (dates are ignored)."""
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """The RFC 6749 §5.2 ``error`` and ``error_description`` of a refusal, if any."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description = body.get("error"), body.get("error_description")
    return (
        error if isinstance(error, str) else None,
        description if isinstance(description, str) else None,
    )


def _basic_credentials(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: form-encode the id and secret, then HTTP Basic (RFC 7617)."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

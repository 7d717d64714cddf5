"""Keycloak tokens for one run.

Sources: the token requests, https://documentation.dataspace.copernicus.eu/APIs/Token.html;
lifetimes and login cap: https://documentation.dataspace.copernicus.eu/Quotas.html.

One :class:`TokenManager` per run logs in once (password grant), refreshes before the
access token expires and logs in again only when the refresh token has expired or is
refused. Downloads run in worker processes (the shared engine); they ask the parent's
manager for the current token through :class:`TokenService`, a local socket with a random
key, so N downloads cost one login, and credentials never leave the parent process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from urllib.parse import urlencode

from eotrend.core.credentials import TOTP_VARIABLE, Credentials, CredentialsError
from eotrend.core.errors import EotrendError
from eotrend.sources.cdse.http import (
    RETRY_STATUSES,
    TransientError,
    describe,
    request,
    retry_after_s,
    with_retries,
)
from eotrend.sources.cdse.settings import CdseError, Settings

log = logging.getLogger(__name__)


def _margin(lifetime: float) -> float:
    """Seconds before expiry at which a token counts as expired (>= 60 s when it can)."""
    return min(60.0, lifetime / 4)


class TokenManager:
    """The run's tokens for one account: log in once, refresh before expiry, log in again
    only when the refresh token expired or was refused. Thread-safe.

    Attributes:
        logins, refreshes: password and refresh grants made so far.
        source: where the credentials came from (for messages).
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._access = ""
        self._access_until = 0.0
        self._refresh = ""
        self._refresh_until = 0.0
        self.logins = 0
        self.refreshes = 0
        self.source = credentials.source
        self._refused = ""  # a refused login is not tried again: accounts get locked

    def token(self) -> str:
        """A current access token (logging in or refreshing only when needed).

        Raises:
            CredentialsError: the login was refused (now or earlier in this run).
        """
        with self._lock:
            if self._refused:
                raise CredentialsError(self._refused)
            now = self._clock()
            if self._access and now < self._access_until:
                return self._access
            if self._refresh and now < self._refresh_until and self._grant(refresh=True):
                return self._access
            try:
                self._grant(refresh=False)
            except CredentialsError as error:
                self._refused = str(error)
                raise
            return self._access

    def renew(self, stale: str) -> str:
        """A new access token after the service refused ``stale`` (unless already renewed)."""
        with self._lock:
            if stale == self._access:
                self._access_until = 0.0
        return self.token()

    def _grant(self, *, refresh: bool) -> bool:
        """Ask for tokens; True on success. A refused refresh returns False; a refused
        login raises CredentialsError."""
        settings = self._settings
        if refresh:
            form = {"grant_type": "refresh_token", "refresh_token": self._refresh}
        else:
            form = {
                "grant_type": "password",
                "username": self._credentials.username,
                "password": self._credentials.password,
            }
            if self._credentials.totp:
                form["totp"] = self._credentials.totp
        form["client_id"] = settings.client_id
        body = urlencode(form).encode()
        asked = self._clock()

        def post() -> dict | None:
            with request(
                "POST",
                settings.token_url,
                timeout=settings.timeout_s,
                trusted=settings.trusted_hosts,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                body=body,
            ) as response:
                if response.status == 200:
                    return json.loads(response.read())
                problem = describe(response)
                if response.status in RETRY_STATUSES:
                    raise TransientError(problem, retry_after_s(response))
                if refresh and response.status in (400, 401):
                    log.info("CDSE refresh token not accepted (%s); logging in again", problem)
                    return None
                raise CredentialsError(self._refusal(problem, response.status))

        answer = with_retries(post, settings, f"CDSE token request to {settings.token_url}")
        if answer is None:
            self._refresh = ""
            return False
        try:
            access, lifetime = answer["access_token"], float(answer["expires_in"])
            refresh_token = answer.get("refresh_token", "")
            refresh_lifetime = float(answer.get("refresh_expires_in", 0))
        except (KeyError, TypeError, ValueError):
            raise CdseError(
                f"the token service at {settings.token_url} answered without an access token "
                "and its lifetime: is token_url right?"
            ) from None
        self._access, self._access_until = access, asked + lifetime - _margin(lifetime)
        self._refresh = refresh_token
        self._refresh_until = asked + refresh_lifetime - _margin(refresh_lifetime)
        if refresh:
            self.refreshes += 1
        else:
            self.logins += 1
        log.info(
            "CDSE token %s (access valid %.0f s, refresh %.0f s)",
            "refreshed" if refresh else "obtained by login",
            lifetime,
            refresh_lifetime,
        )
        return True

    def _refusal(self, problem: str, status: int) -> str:
        """The message of a refused login: which credentials, from where, what to check."""
        url = self._settings.token_url
        if status == 401:
            return (
                f"the CDSE token service at {url} refused the username or password from "
                f"{self.source} ({problem}); check both (accounts with two-factor "
                f"authentication also need {TOTP_VARIABLE})"
            )
        return (
            f"the CDSE token service at {url} refused the login with the credentials from "
            f"{self.source} ({problem}); check client_id {self._settings.client_id!r}, and "
            f"{TOTP_VARIABLE} for accounts with two-factor authentication"
        )


@dataclass(frozen=True)
class TokenClient:
    """How a worker process asks the parent's :class:`TokenService` for tokens (picklable).

    Attributes:
        address: the service's local socket.
        authkey: the service's random key (proves the caller is one of this run's workers).
        source: where the credentials came from (for messages; not a secret).
    """

    address: str
    authkey: bytes = field(repr=False)
    source: str

    def token(self) -> str:
        """The current access token."""
        return self._ask("token", "")

    def renew(self, stale: str) -> str:
        """A new access token after ``stale`` was refused."""
        return self._ask("renew", stale)

    def _ask(self, request: str, stale: str) -> str:
        with Client(self.address, authkey=self.authkey) as connection:
            connection.send((request, stale))
            kind, value = connection.recv()
        if kind == "token":
            return value
        raise (CredentialsError if kind == "credentials" else CdseError)(value)


class TokenService:
    """Serves one :class:`TokenManager` to this run's worker processes over a local socket.

    Use as a context manager; :attr:`client` is what tasks carry.
    """

    def __init__(self, manager: TokenManager) -> None:
        self._manager = manager
        self._authkey = secrets.token_bytes(32)
        self._listener = Listener(authkey=self._authkey)  # a socket in a private temp folder
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="cdse-tokens", daemon=True)
        self._thread.start()

    @property
    def client(self) -> TokenClient:
        return TokenClient(str(self._listener.address), self._authkey, self._manager.source)

    def _serve(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
            except (OSError, EOFError, AuthenticationError) as error:
                if self._closing:
                    return
                log.warning("token service: refused a connection (%s)", type(error).__name__)
                continue
            if self._closing:
                connection.close()
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection) -> None:
        with connection:
            try:
                request, stale = connection.recv()
            except (EOFError, OSError):
                return
            try:
                if request == "renew":
                    answer = ("token", self._manager.renew(stale))
                else:
                    answer = ("token", self._manager.token())
            except CredentialsError as error:
                answer = ("credentials", str(error))
            except EotrendError as error:
                answer = ("service", str(error))
            with contextlib.suppress(OSError):
                connection.send(answer)

    def close(self) -> None:
        """Stop serving (wakes the accepting thread with one last connection)."""
        self._closing = True
        with contextlib.suppress(OSError, EOFError):
            Client(self._listener.address, authkey=self._authkey).close()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TokenService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

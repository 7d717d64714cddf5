"""Copernicus Data Space credentials: from environment variables or a netrc file.

Looked up in this order (the password grant with optional ``totp``: CDSE's "Access token"
page, https://documentation.dataspace.copernicus.eu/APIs/Token.html):

1. ``CDSE_USERNAME`` and ``CDSE_PASSWORD`` (and ``CDSE_TOTP``, the current six-digit code,
   for accounts with two-factor authentication: a code is valid for seconds, so such runs
   work only while no second login is needed, i.e. within the refresh token's hour);
2. the netrc file (``$NETRC``, else ``~/.netrc``), under any of the machine names clients
   use: the full token URL (CDSETool), the token URL's host, ``dataspace.copernicus.eu``
   (sentineleof). Its ``default`` entry is never used: it may belong to another service.

The object store's S3 keys (:func:`find_s3_keys`) come from ``CDSE_S3_ACCESS_KEY`` and
``CDSE_S3_SECRET_KEY``, else from a profile of an ``~/.aws/credentials``-style file.

Credentials never leave the process that read them: :class:`Credentials` hides its values
in ``repr`` and refuses to be pickled (so they cannot reach worker processes, task lists or
files), and no message here quotes them.
"""

from __future__ import annotations

import configparser
import netrc
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from eotrend.core.errors import EotrendError

USERNAME_VARIABLE = "CDSE_USERNAME"
PASSWORD_VARIABLE = "CDSE_PASSWORD"
TOTP_VARIABLE = "CDSE_TOTP"
# sentineleof's netrc machine name; CDSETool uses the full token URL.
SHARED_MACHINE = "dataspace.copernicus.eu"


class CredentialsError(EotrendError):
    """Credentials missing, unreadable or refused. The message never contains them."""


@dataclass(frozen=True)
class Credentials:
    """A CDSE account. ``source`` says where it came from (for error messages)."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    source: str
    totp: str = field(default="", repr=False)

    def __reduce__(self):
        raise TypeError("Credentials are not picklable: they never leave the process")


def machine_names(token_url: str) -> list[str]:
    """Netrc machine names accepted for ``token_url``, in lookup order."""
    names = [token_url, urlsplit(token_url).hostname or "", SHARED_MACHINE]
    return list(dict.fromkeys(n for n in names if n))


def _variable_pair(environ: Mapping[str, str], first: str, second: str) -> tuple[str, str] | None:
    """The values of two environment variables that go together (a user name and its
    password, an access key and its secret); None when neither is set.

    Raises:
        CredentialsError: only one of them is set.
    """
    values = environ.get(first, ""), environ.get(second, "")
    if all(values):
        return values
    if any(values):
        given, missing = (first, second) if values[0] else (second, first)
        raise CredentialsError(f"{given} is set but {missing} is not: set both, or neither")
    return None


def netrc_path(environ: Mapping[str, str]) -> Path:
    """The netrc file: ``$NETRC`` if set, else ``~/.netrc``."""
    return Path(environ.get("NETRC") or Path.home() / ".netrc").expanduser()


def find_credentials(token_url: str, environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials for the token service at ``token_url``.

    Raises:
        CredentialsError: none found, only half given, or an unsafe or unreadable netrc.
    """
    environ = os.environ if environ is None else environ
    pair = _variable_pair(environ, USERNAME_VARIABLE, PASSWORD_VARIABLE)
    if pair:
        source = f"environment variables {USERNAME_VARIABLE}/{PASSWORD_VARIABLE}"
        return Credentials(*pair, source, environ.get(TOTP_VARIABLE, ""))
    path = netrc_path(environ)
    names = machine_names(token_url)
    if path.is_file():
        found = _from_netrc(path, names)
        if found is not None:
            login, secret, machine = found
            return Credentials(
                login, secret, f"{path} (machine {machine})", environ.get(TOTP_VARIABLE, "")
            )
    raise CredentialsError(
        f"no Copernicus Data Space credentials: set {USERNAME_VARIABLE} and "
        f"{PASSWORD_VARIABLE}, or add `machine <name> login <user> password <password>` to "
        f"{path} (chmod 600) with one of the machine names {', '.join(names)}"
    )


def _from_netrc(path: Path, names: list[str]) -> tuple[str, str, str] | None:
    """(login, password, machine) of the first of ``names`` in the netrc file, or None."""
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path} can be read by other users; make it private with `chmod 600 {path}`"
        )
    try:
        entries = netrc.netrc(str(path)).hosts
    except netrc.NetrcParseError as error:
        # The parser's message may quote a token of the file (a password): not repeated.
        raise CredentialsError(
            f"{path} cannot be parsed (line {error.lineno}); check its syntax"
        ) from None
    for name in names:
        if name in entries:
            login, _, password = entries[name]
            if login and password:
                return login, password, name
    return None


# --- object store (S3) keys ------------------------------------------------------------

S3_ACCESS_VARIABLE = "CDSE_S3_ACCESS_KEY"
S3_SECRET_VARIABLE = "CDSE_S3_SECRET_KEY"
S3_CREDENTIALS_VARIABLE = "AWS_SHARED_CREDENTIALS_FILE"


@dataclass(frozen=True)
class S3Keys:
    """A pair of CDSE object-store keys (made in the CDSE S3 keys manager). ``source``
    says where they came from. Hidden in ``repr``, never pickled, never written."""

    access: str = field(repr=False)
    secret: str = field(repr=False)
    source: str

    def __reduce__(self):
        raise TypeError("S3Keys are not picklable: they never leave the process")

    def scrub(self, text: str) -> str:
        """``text`` with both keys replaced by ``***`` (for messages from libraries)."""
        for value in (self.secret, self.access):
            if value:
                text = text.replace(value, "***")
        return text


def s3_credentials_path(environ: Mapping[str, str]) -> Path:
    """The credentials file: ``$AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``."""
    return Path(environ.get(S3_CREDENTIALS_VARIABLE) or Path.home() / ".aws" / "credentials")


def find_s3_keys(profile: str, environ: Mapping[str, str] | None = None) -> S3Keys:
    """The object-store keys: ``CDSE_S3_ACCESS_KEY``/``CDSE_S3_SECRET_KEY``, else the
    ``[profile]`` section (``aws_access_key_id``, ``aws_secret_access_key``) of the
    credentials file (:func:`s3_credentials_path`). Generic ``AWS_*`` variables and the
    ``default`` profile are never used: they may hold keys of another service, which
    would then be sent to the CDSE endpoint.

    Raises:
        CredentialsError: none found, only half given, or an unsafe or unreadable file.
    """
    environ = os.environ if environ is None else environ
    pair = _variable_pair(environ, S3_ACCESS_VARIABLE, S3_SECRET_VARIABLE)
    if pair:
        return S3Keys(*pair, f"environment variables {S3_ACCESS_VARIABLE}/{S3_SECRET_VARIABLE}")
    path = s3_credentials_path(environ)
    if path.is_file() and profile and profile != "default":
        if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"{path} can be read by other users; make it private with `chmod 600 {path}`"
            )
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except configparser.Error:
            # The parser's message may quote a line of the file (a key): not repeated.
            raise CredentialsError(f"{path} cannot be parsed; check its syntax") from None
        if parser.has_section(profile):
            section = parser[profile]
            access = section.get("aws_access_key_id", "").strip()
            secret = section.get("aws_secret_access_key", "").strip()
            if access and secret:
                return S3Keys(access, secret, f"{path} (profile {profile})")
    raise CredentialsError(
        f"no CDSE object-store (S3) keys: set {S3_ACCESS_VARIABLE} and {S3_SECRET_VARIABLE}, "
        f"or add a [{profile or 'cdse'}] section with aws_access_key_id and "
        f"aws_secret_access_key to {path} (chmod 600); make the keys in the CDSE S3 keys "
        "manager (source.cdse.s3_profile names the section)"
    )

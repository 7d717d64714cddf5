"""Copernicus Data Space credentials: from environment variables or a netrc file.

Looked up in this order (cdse-api.md §5, §8):

1. ``CDSE_USERNAME`` and ``CDSE_PASSWORD`` (and ``CDSE_TOTP``, the current six-digit code,
   for accounts with two-factor authentication: a code is valid for seconds, so such runs
   work only while no second login is needed, i.e. within the refresh token's hour);
2. the netrc file (``$NETRC``, else ``~/.netrc``), under any of the machine names clients
   use: the full token URL (CDSETool), the token URL's host, ``dataspace.copernicus.eu``
   (sentineleof). Its ``default`` entry is never used: it may belong to another service.

Credentials never leave the process that read them: :class:`Credentials` hides its values
in ``repr`` and refuses to be pickled (so they cannot reach worker processes, task lists or
files), and no message here quotes them.
"""

from __future__ import annotations

import netrc
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from eotrend.errors import EotrendError

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


def netrc_path(environ: Mapping[str, str]) -> Path:
    """The netrc file: ``$NETRC`` if set, else ``~/.netrc``."""
    return Path(environ.get("NETRC") or Path.home() / ".netrc").expanduser()


def find_credentials(token_url: str, environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials for the token service at ``token_url``.

    Raises:
        CredentialsError: none found, only half given, or an unsafe or unreadable netrc.
    """
    environ = os.environ if environ is None else environ
    username = environ.get(USERNAME_VARIABLE, "")
    password = environ.get(PASSWORD_VARIABLE, "")
    totp = environ.get(TOTP_VARIABLE, "")
    if username and password:
        source = f"environment variables {USERNAME_VARIABLE}/{PASSWORD_VARIABLE}"
        return Credentials(username, password, source, totp)
    if username or password:
        given, missing = (
            (USERNAME_VARIABLE, PASSWORD_VARIABLE)
            if username
            else (PASSWORD_VARIABLE, USERNAME_VARIABLE)
        )
        raise CredentialsError(f"{given} is set but {missing} is not: set both, or neither")
    path = netrc_path(environ)
    names = machine_names(token_url)
    if path.is_file():
        found = _from_netrc(path, names)
        if found is not None:
            login, secret, machine = found
            return Credentials(login, secret, f"{path} (machine {machine})", totp)
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

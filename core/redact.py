"""Keep secrets out of everything a person or a scraper can read.

Camera URLs often carry ``user:password@``; DashScope keys are bearer secrets. Admin list views,
log lines, metric labels and error messages go through these helpers.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

# userinfo in any scheme://user[:password]@host form, including strings that are not valid URLs
# (an error message from FFmpeg quoting the URL, say). The userinfo runs to the LAST "@" before the
# path, as in URL parsers: a password may itself contain "@" (``admin:p@ss@cam``).
# What forms and lists show in place of a password.
MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]+)@")


def mask_url(url: str) -> str:
    """``rtsp://admin:hunter2@cam/x`` -> ``rtsp://admin:***@cam/x``; other URLs unchanged."""

    def repl(match: re.Match[str]) -> str:
        user = match.group("userinfo").split(":", 1)[0]
        return f"{match.group('scheme')}{user}:***@"

    return _USERINFO.sub(repl, url)


def redact_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Mask URL credentials and every given secret inside free text (error messages, replies)."""
    text = mask_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_key(secret))
    return text


def mask_key(key: str) -> str:
    """A recognisable but useless form of an API key: its last four characters only."""
    return f"…{key[-4:]}" if len(key) > 8 else "****"


def key_id(key: str) -> str:
    """A stable short id for a key, safe for metric labels and database rows."""
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def restore_masked_url(submitted: str, stored: str) -> str | None:
    """Put the stored password back into a URL that came back from a form in masked form.

    Forms show ``user:***@`` instead of the password; when that comes back for the same scheme, host,
    port and user, the stored password is meant. Anything else returns None, so the caller asks for
    the password: otherwise ``rtsp://admin:***@attacker:554/x`` would send the stored password to a
    host of the editor's choosing on the next "grab a frame".
    """
    if ":***@" not in submitted:
        return submitted
    old_match, new_match = _USERINFO.search(stored), _USERINFO.search(submitted)
    if not old_match or not new_match:
        return None
    try:
        old, new = urlsplit(stored), urlsplit(submitted)
        same_endpoint = (old.scheme.lower(), old.hostname, old.port, old.username) == (
            new.scheme.lower(),
            new.hostname,
            new.port,
            new.username,
        )
    except ValueError:  # a port that is not a number
        return None
    if not same_endpoint or old.password is None or new.password != MASK:
        return None
    userinfo = old_match.group("userinfo")
    return submitted[: new_match.start("userinfo")] + userinfo + submitted[new_match.end("userinfo") :]

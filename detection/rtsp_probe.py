"""A few plain RTSP requests on a socket: is the camera's server there, and what does it answer?

OpenCV's FFmpeg backend opens a stream or fails without saying why. Two cheap questions fill the gap:

- :func:`reachable`: one ``DESCRIBE`` request (or, for an HTTP or RTSPS camera, a TCP connect). The
  capture reader asks it every second while a stream is down, and opens the stream in full only once
  the server serves it, so a camera is back within seconds of its server without being hammered
  meanwhile. DESCRIBE rather than OPTIONS: a relay answers OPTIONS while its camera is away, but
  DESCRIBE only once the stream exists.
- :func:`setup_answer`: ``DESCRIBE`` then ``SETUP`` with one transport, to report the server's own
  answer (say ``461 Unsupported transport`` from a UDP-only server) when an open failed.

Only what these two need of RFC 2326; the stream itself is read by OpenCV. Credentials in the URL are
never sent here (a server that wants them answers 401, which is reported as it is).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
# The SETUP transports of RFC 2326: interleaved in the RTSP connection, or RTP on UDP ports.
TRANSPORT_HEADERS = {"tcp": "RTP/AVP/TCP;unicast;interleaved=0-1", "udp": "RTP/AVP;unicast;client_port=50000-50001"}
_STATUS = re.compile(rb"^RTSP/1\.0 (\d{3}) ?([^\r\n]*)")


@dataclass(frozen=True)
class Answer:
    code: int  # 0: no RTSP answer at all
    text: str  # "461 Unsupported transport", or why there was no answer

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def serving(self) -> bool:
        """Worth a full open: the stream is described, or it needs the credentials only FFmpeg sends."""
        return self.ok or self.code in (401, 403)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 554)


def _bare(url: str) -> str:
    """The URL without user and password (they must not travel in request lines)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class _Session:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = _bare(url)
        self.sock = socket.create_connection(_address(url), timeout=timeout_s)
        self.cseq = 0

    def request(self, method: str, target: str, *headers: str) -> tuple[Answer, dict[str, str], bytes]:
        self.cseq += 1
        lines = [f"{method} {target} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: trafficsite-probe", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        match = _STATUS.match(head)
        if match is None:
            return Answer(0, "the server did not answer in RTSP"), {}, b""
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode(errors="replace").partition(":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            body += chunk
        return Answer(int(match.group(1)), f"{match.group(1).decode()} {match.group(2).decode().strip()}"), fields, body

    def close(self) -> None:
        self.sock.close()


def reachable(url: str, timeout_s: float = 1.0) -> Answer:
    """Whether the camera's server serves the stream (see :attr:`Answer.serving`)."""
    scheme = urlsplit(url).scheme.lower()
    try:
        if scheme != "rtsp":  # HTTP, and RTSP over TLS: a TCP connect is as far as a plain socket goes
            socket.create_connection(_address(url), timeout=timeout_s).close()
            return Answer(200, "accepts connections")
        session = _Session(url, timeout_s)
        try:
            answer, _, _ = session.request("DESCRIBE", session.url, "Accept: application/sdp")
        finally:
            session.close()
    except OSError as exc:
        return Answer(0, _describe(exc))
    return answer if answer.code else Answer(0, answer.text)


def setup_answer(url: str, transport: str, timeout_s: float = 2.0) -> Answer:
    """The server's answer to a SETUP of the stream's first track over ``transport`` (tcp or udp)."""
    try:
        session = _Session(url, timeout_s)
    except OSError as exc:
        return Answer(0, _describe(exc))
    try:
        described, fields, sdp = session.request("DESCRIBE", session.url, "Accept: application/sdp")
        if not described.ok:
            return Answer(described.code, f"DESCRIBE: {described.text}")
        base = fields.get("content-base") or fields.get("content-location") or session.url
        control = re.search(rb"^m=.*?^a=control:(\S+)", sdp, re.MULTILINE | re.DOTALL)
        track = control.group(1).decode() if control else ""
        target = track if track.startswith("rtsp") else urljoin(base.rstrip("/") + "/", track) if track else base
        answer, fields, _ = session.request("SETUP", target, f"Transport: {TRANSPORT_HEADERS[transport]}")
        if answer.ok and "session" in fields:
            session.request("TEARDOWN", base, f"Session: {fields['session'].split(';')[0]}")
        return Answer(answer.code, f"SETUP: {answer.text}")
    except OSError as exc:
        return Answer(0, _describe(exc))
    finally:
        session.close()


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return exc.strerror or type(exc).__name__

"""Where outgoing connections may go: checks on the addresses a host name resolves to.

Webhook URLs and camera sources are typed by people with an admin login, and the server then
connects to them from inside the deployment network. Without a check, a webhook to
``http://169.254.169.254/`` or ``http://redis:6379/`` turns the alert pipeline into a probe of the
internal network. The checks run on the resolved addresses, at save time and again right before
connecting, so a name that later resolves elsewhere (DNS rebinding) is caught as well.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection, Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(ValueError):
    """The host may not be connected to. The message names the host and why, never a URL's path."""


class Unresolvable(AddressRefused):
    """The host name does not resolve (now): nothing to connect to, but maybe only for a while."""


def parse_networks(values: Iterable[str], *, setting: str) -> list[IPNetwork]:
    """CIDR blocks from a setting (``10.20.0.0/16,192.168.7.0/24``), or a ValueError naming it."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {value!r} is not an address block such as 10.20.0.0/16.") from None
    return networks


def resolve(host: str, port: int | None) -> list[IPAddress]:
    """Every address the host name resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve ({exc}).") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        addresses.append(address)
    return addresses


def is_internal(address: IPAddress) -> bool:
    """Loopback, private, link-local (cloud metadata), shared, reserved, multicast or unspecified."""
    return not address.is_global or address.is_multicast


def check_public(host: str, port: int | None, *, internal_hosts: Collection[str] = ()) -> None:
    """Refuse a host that resolves to an internal address, unless it is named in ``internal_hosts``."""
    if host.lower().rstrip(".") in {h.lower() for h in internal_hosts}:
        return
    for address in resolve(host, port):
        if is_internal(address):
            raise AddressRefused(
                f"{host} resolves to {address}, an internal address (loopback, private, link-local or reserved); "
                "name the host in the allow-list setting if it really is meant."
            )


def check_in_networks(host: str, port: int | None, networks: Collection[IPNetwork]) -> None:
    """Refuse a host unless every address it resolves to lies in one of ``networks`` (empty: any)."""
    if not networks:
        return
    for address in resolve(host, port):
        if not any(address.version == net.version and address in net for net in networks):
            allowed = ", ".join(str(net) for net in networks)
            raise AddressRefused(f"{host} resolves to {address}, outside the allowed networks ({allowed}).")

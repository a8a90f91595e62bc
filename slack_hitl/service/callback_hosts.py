"""Which hosts a callback may reach: by default none inside the network slack_hitl runs in.

Whoever holds the API token chooses the callback URL, and slack_hitl POSTs to it from inside
its network and shows (the start of) the answer in Slack. So a URL whose host is, or resolves
to, a loopback, link-local (cloud metadata lives there), private, unique-local or unspecified
address is refused, unless ``SLACK_HITL_CALLBACK_ALLOWED_HOSTS`` lists the host name, the
address or a network holding it. The check is made when the approval is opened (a 422 for the
caller) and again on every call, on the address the connection is then actually made to: a
name that resolves elsewhere by the time of the call (DNS rebinding) is caught there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from slack_hitl.errors import SlackHitlError
from slack_hitl.service.tls import tls_context

_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$", re.IGNORECASE)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_AT_OPEN_SECONDS = 2.0
"""How long opening an approval waits for the callback's host to resolve; a name that does not
resolve then is checked when it is called, as every name is."""


class CallbackHostRefused(SlackHitlError):
    """The callback's host is, or resolves to, an internal address not in ``SLACK_HITL_CALLBACK_ALLOWED_HOSTS``."""


def is_internal(address: IPAddress) -> bool:
    """Loopback, link-local, private (RFC 1918, unique-local, shared), unspecified, multicast or reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or address in ipaddress.ip_network("100.64.0.0/10")
    )


@dataclass(frozen=True)
class CallbackHosts:
    """The hosts a callback may reach beyond the public internet: names, addresses and networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, listed: str | Iterable[str]) -> CallbackHosts:
        """From ``"ci.internal, 10.1.2.3, 192.168.0.0/16"``; ``ValueError`` names an entry that is none of these."""
        entries = listed.split(",") if isinstance(listed, str) else listed
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (entry.strip() for entry in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if not _HOST_NAME.match(entry):
                    raise ValueError(f"{entry!r} is not a host name, an IP address or a network (CIDR)") from None
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        if not is_internal(address):
            return True
        return host.lower().rstrip(".") in self.names or any(address in network for network in self.networks)

    def check(self, host: str, addresses: Iterable[IPAddress]) -> None:
        for address in addresses:
            if not self.allows(host, address):
                raise CallbackHostRefused(
                    f"the callback host {host!r} is or resolves to an internal address ({address}); "
                    "list it in SLACK_HITL_CALLBACK_ALLOWED_HOSTS to allow it"
                )

    async def check_url(self, url: str) -> None:
        """Refuse ``url`` if its host is, or now resolves to, an address not allowed. A name that does
        not resolve (yet) passes here: the call checks it again."""
        host = (urlsplit(url).hostname or "").strip("[]")
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = await asyncio.wait_for(_resolve(host, 443), RESOLVE_AT_OPEN_SECONDS)
            except (OSError, TimeoutError):
                return
        self.check(host, addresses)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, then connects to the checked one: the name
    cannot resolve elsewhere between the check and the connection. TLS still verifies the name."""

    def __init__(self, hosts: CallbackHosts) -> None:
        self._hosts = hosts
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                addresses = await asyncio.wait_for(_resolve(host, port), timeout)
            except (OSError, TimeoutError) as error:
                raise httpcore.ConnectError(f"{host!r} could not be resolved") from error
        self._hosts.check(host, addresses)
        return await self._backend.connect_tcp(
            str(addresses[0]), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def checked_transport(hosts: CallbackHosts) -> httpx.AsyncHTTPTransport:
    """An httpx transport that connects only where ``hosts`` allows, checked on each connection,
    with the one shared TLS context (``tls.tls_context``)."""
    context = tls_context()
    # Given the context, httpx does not load the CA bundle again for a pool that is thrown away
    # below (16 ms of CPU per callback, most of a resume's time to its callback under load).
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    # httpx takes no network backend; its pool is replaced by the same pool with the checked backend.
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=context, network_backend=_CheckedBackend(hosts))
    return transport

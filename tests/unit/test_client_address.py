"""Whose address a request is: the peer, unless a trusted proxy forwarded it."""

from __future__ import annotations

import pytest

from api.client_address import client_address
from loyalty.identity.login_throttle import address_group


def _scope(peer: str | None, *forwarded: str) -> dict:
    return {"client": (peer, 51000) if peer else None,
            "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_says():
    assert client_address(_scope("203.0.113.7", "198.51.100.1"), ()) == "203.0.113.7"
    assert client_address(_scope(None), ()) is None


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    # A trusted proxy forwards the address it got the request from.
    ("10.0.0.5", ["198.51.100.1"], "198.51.100.1"),
    # What the client wrote itself (left of the proxy's entry) proves nothing.
    ("10.0.0.5", ["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
    # Through two trusted proxies, headers split over lines.
    ("10.0.0.5", ["1.2.3.4, 198.51.100.1", "10.0.0.9"], "198.51.100.1"),
    # A peer that is not a trusted proxy is believed about itself only.
    ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
    # A trusted proxy without the header: itself.
    ("10.0.0.5", [], "10.0.0.5"),
    # Garbage stops the walk at the last believed hop.
    ("10.0.0.5", ["198.51.100.1, not-an-ip"], "10.0.0.5"),
    # Ports and brackets, IPv4-mapped IPv6.
    ("10.0.0.5", ["198.51.100.1:4711"], "198.51.100.1"),
    ("10.0.0.5", ["[2001:db8::1]:4711"], "2001:db8::1"),
    ("::ffff:10.0.0.5", ["::ffff:198.51.100.1"], "198.51.100.1"),
])
def test_a_trusted_proxy_is_believed_about_the_next_hop(peer, forwarded, client):
    assert client_address(_scope(peer, *forwarded), ("10.0.0.0/24", "127.0.0.1")) == client


def test_an_ipv6_host_counts_as_its_whole_slash_64():
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2:ffff::9")
    assert address_group("2001:db8:1:2::1") != address_group("2001:db8:1:3::1")
    assert address_group("::ffff:192.0.2.1") == address_group("192.0.2.1") == "192.0.2.1"


def test_trusted_proxies_and_throttle_limits_are_checked_at_start():
    from loyalty.platform.config import ConfigError, load_settings

    settings = load_settings({"LOYALTY_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,",
                              "LOYALTY_LOGIN_MAX_FAILURES": "3"})
    settings.check()
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1")
    for bad in ({"LOYALTY_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"},
                {"LOYALTY_LOGIN_MAX_FAILURES": "1"},
                {"LOYALTY_LOGIN_LOCKOUT_SECONDS": "600"},  # above the account's maximum
                {"LOYALTY_SCRYPT_CONCURRENCY": "-1"}):
        with pytest.raises(ConfigError):
            load_settings(bad).check()

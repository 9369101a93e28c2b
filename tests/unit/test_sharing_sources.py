"""What counts as one source of sharing invitations."""

from __future__ import annotations

import pytest

from bot.sharing.pending import source_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack socket
        ("2001:db8:1:2ff:aaaa::1", "2001:db8:1:200::/56"),
        ("2001:db8:1:2aa::9", "2001:db8:1:200::/56"),  # the same customer's block
        ("fe80::1%eth0", "fe80::/56"),
        ("", None),
        (None, None),
        ("Proxy-Name", "proxy-name"),
    ],
)
def test_an_ipv6_customer_block_is_one_source(address, key):
    assert source_key(address) == key

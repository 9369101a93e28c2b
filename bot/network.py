"""Which addresses the bot may call on someone else's say-so (a partner's URL, a webhook URL).

One rule for every outgoing channel: an address is *public* when it is on the
internet; loopback, private, link-local (cloud metadata at 169.254.169.254),
shared (100.64/10), multicast, reserved and unspecified addresses are not, and
an IPv4 address written inside IPv6 (``::ffff:127.0.0.1``) is judged as the
IPv4 address it is. Pure: resolving names is the caller's job.
"""

from __future__ import annotations

import ipaddress

LOCAL_NAMES = ("localhost", "localhost.localdomain")
# Python counts these as global, but no partner or webhook lives there: IETF protocol
# assignments (192.0.0.0/24, whose anycast services answer on local networks) and the
# deprecated IPv6 site-local block, which some networks still route internally.
NOT_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10"))


def is_public_address(text: str) -> bool:
    """True for a literal IP address on the internet; False for any other address or text."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            address = mapped
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and not any(address in network for network in NOT_PUBLIC)
    )


def is_private_host(host: str) -> bool:
    """A literal address that is not on the internet, or a name that is this machine.

    Other names say nothing until they are resolved: the connection checks them then.
    """
    name = host.strip().lower().rstrip(".")
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name.strip("[]").split("%")[0])
    except ValueError:
        return False
    return not is_public_address(name)

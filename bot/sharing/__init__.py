"""Ticket sharing with other help desks over the open ticket-sharing protocol.

``protocol`` (the wire format) and ``statuses`` (the status tables) are pure.
Our side: ``agreements`` (invite, answer, end) and ``shared`` (share a ticket,
stop). The partner's requests: ``invitations`` (agreements, and the token every
request is checked with) and ``received`` (shared tickets and their updates).
``sync`` is what every change calls to send it on without echo, ``wire`` what
both directions share, ``service`` the facade channels call. Nothing here
speaks HTTP: requests to partners go through the outbox (channel ``sharing``),
and the partner's requests come in through ``channels.sharing``.
"""

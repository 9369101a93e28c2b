"""Ticket sharing with other help desks over the open ticket-sharing protocol.

``protocol`` (the wire format) and ``statuses`` (the status tables) are pure.
Our side: ``agreements`` (invite, answer, end) and ``shared`` (share a ticket,
stop). The partner's requests: ``invitations`` (agreements, and the token every
request is checked with), ``received`` (shared tickets and their updates) and
``pending`` (how many invitations may wait, from whom, for how long). ``sync``
subscribes to the core's events (:mod:`bot.events`) and sends each change on
without echo; ``wire`` is what both directions share; ``service`` the facade
channels call, which wires ``sync`` to the desk it is built beside. The core
never imports this package. Nothing here
speaks HTTP: requests to partners go through the outbox (channel ``sharing``),
and the partner's requests come in through ``channels.sharing``.
"""

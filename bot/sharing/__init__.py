"""Ticket sharing with other help desks over the open ticket-sharing protocol.

``protocol`` and ``statuses`` are pure; ``agreements`` and ``shared`` work on
the store inside a :class:`bot.unit.Unit`; ``sync`` is what every change
calls to send it on. Nothing here speaks HTTP: requests to partners go through
the outbox (channel ``sharing``), and the partner's requests come in through
``channels.sharing``.
"""

"""The desk's policies as admins keep them, and the rules in force built from them.

- ``book``: :class:`~bot.policies.book.RuleBook`, the settings file's rules
  layered with the stored ones, compiled again when they change (every process
  sees the same version).
- ``routing``: routing rules kept over the API, and placing a new ticket.
- ``sla``: SLA policies kept over the API.

The pure engines they compile to are :mod:`bot.sla` and :mod:`bot.routing`.
"""

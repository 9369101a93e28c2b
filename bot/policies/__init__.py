"""The desk's policies as admins keep them, and the rules in force built from them.

- ``book``: :class:`~bot.policies.book.RuleBook`, the settings file's rules
  layered with the stored ones, compiled again when they change (every process
  sees the same version).
- ``new_ticket``: placing a new ticket by its "ticket created" automation rules,
  before it is written.
- ``sla``: SLA policies kept over the API.

The pure engines they compile to are :mod:`bot.sla`, :mod:`bot.routing` and
:mod:`bot.rules`; automation rules are kept and run by :mod:`bot.automation`.
"""

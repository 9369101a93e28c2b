"""Where a new ticket goes and who gets it, as pure rules.

- ``routes``: the first matching :class:`~bot.routing.routes.Route`; round
  robin and least loaded assignment. Stored rules: :mod:`bot.automation.routing_rules`.
"""

"""Who gets a ticket, as pure rules.

- ``routes``: round-robin and least-loaded assignment within a team. Where a
  new ticket goes is decided by "ticket created" automation rules
  (:mod:`bot.policies.new_ticket`); the routing API's rules are such rules
  (:mod:`bot.automation.routing_rules`).
"""

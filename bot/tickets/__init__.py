"""Tickets and what happens to them, inside the caller's transaction.

- ``intake``: ``receive``: every channel's message becomes a new ticket or a
  comment (duplicates, bounces, followers, attachments).
- ``placement``: which ticket a message belongs to, and whether its sender may
  act on it (only a channel that vouches makes it an agent's act).
- ``changes``: one ticket's changes: comment, status, assignee, escalation,
  merge. Each records its audit row and publishes a :mod:`bot.events` event.
- ``classify``: priority, category, tags, custom fields.
- ``attachments``: size limits and keeping files.
- ``sla_clocks``: each ticket's SLA clocks kept current as it changes.
- ``escalation``: the SLA sweep; the ladder fires once a level.
- ``housekeeping``: auto-close, expiry, the audit export.
- ``threads``: a ticket's threads on chat channels.
- ``facts``: a ticket as automation rules' conditions see it;
  ``automation_timers``: when a time-based rule may next be due for it (kept
  on the ticket by every change, like the SLA's next check).
"""

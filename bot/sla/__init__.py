"""SLA rules, pure: no store, no clock of their own (``now`` is an argument).

- ``calendar``: business hours and holidays; due times (``due``,
  ``add_business_time``), pauses, on_time / at_risk / breached (``evaluate``).
- ``policy``: which policy applies to a ticket; the escalation ladder; parsing
  durations, schedules and thresholds.
- ``settings``: the ``[sla]``, ``[[sla_policies]]``, ``[[escalation_levels]]``
  and ``[notifications]`` sections.

Each ticket's clocks are kept in :mod:`bot.tickets.sla_clocks`; the sweep that
fires the ladder is :mod:`bot.tickets.escalation`.
"""

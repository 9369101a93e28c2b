"""Automation rules, pure: no store, no templates, no clock of their own.

- ``model``: :class:`~bot.rules.model.Rule` and its parts (trigger, conditions,
  actions), the trigger and channel names, and ``Rule.as_json`` for storage and views.
- ``parse``: :func:`~bot.rules.parse.parse_rule`, an admin's JSON checked into a
  rule; refusals name the part at fault (``conditions.all[1].op``).
- ``values``: the condition catalog (fields, their types, the operators that fit)
  and the checks of values; ``actions``: the checks of each action;
  ``shapes``: the JSON shape checks they share.
- ``durations``: ``30m``, ``4h``, ``1d12h`` to seconds and back.
- ``conditions``: whether a trigger fits an event (``trigger_fits``) and conditions
  hold for a ticket's facts (``matches``), asked lazily through ``Facts``.
- ``predicates``: conditions compiled into small functions when a rule is built,
  so evaluating one on every ticket event costs a call and a comparison.
- ``timing``: when a time rule is due (``episode_start``, ``due_at``).
- ``ruleset``: one version's enabled rules, by trigger and in position order.

The engine that feeds events in and carries actions out is ``bot.automation``.
"""

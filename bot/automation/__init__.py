"""Automation rules: admins' policies as triggers, conditions and actions, run on the core's
events and on time.

The rules themselves are pure (:mod:`bot.rules`: their shape, conditions and
timing); a new ticket is placed by its "ticket created" rules before it is
written (:mod:`bot.policies.new_ticket`); each ticket keeps when a time-based
rule may next be due (:mod:`bot.tickets.automation_timers`). Here, above the
notifications and the ticket changes they use:

- ``engine``: the subscriber to the core's events; runs the rules of each
  trigger in order, with the chain's bounds, failure isolation and dry-run mode.
- ``actions``: what each action does (through the ticket's own changes) or would
  do; ``messages``: templated emails, Slack messages, webhook calls.
- ``sweep``: the time-based rules' sweep, once per rule, ticket and episode.
- ``runs``: the execution log and per-rule counts.
- ``keeping``: adding, changing and removing rules, checked whole first.
- ``routing_rules``: the routing API's rules, kept as "ticket created" rules.
- ``dry_run``: trying a rule on stored tickets and their recorded events.
"""

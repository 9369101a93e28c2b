"""Supportbot's core: tickets, people, rules, time, the store and the outbox.

Channels (``channels/``: email, Slack, HTTP, the CLI) call
:class:`bot.desk.facade.Desk` with neutral :mod:`bot.messages` types and never
reach further in. Nothing here imports a channel or a protocol library; the
core names channels only as outbox destinations (``email``, ``slack``, ...),
whose senders live in ``channels/``.

The map, top to bottom; each package imports only those below it (an
import-linter contract, with no cycles between any two of them):

- ``sharing/``: sharing tickets with other help desks; above the core, it
  subscribes to the core's events and never the reverse.
- ``desk/``: the facade channels call, one class per concern (messages in,
  changes, reading, timed jobs, administration, automation rules).
- ``automation/``: admins' automation rules heard on the core's events and on
  time (the time-based sweep); their actions go through ``tickets`` and
  ``notify`` like any change, and every run is logged.
- ``read/``: queries, search, sorting, files, reports, metrics, retries.
- ``notify/``: who hears about what (the core's event subscribers), Slack
  cards, webhooks, templates and the outbox.
- ``tickets/``: intake and placement of messages, changes, classification,
  attachments, SLA clocks, the escalation sweep, housekeeping.
- ``policies/``: SLA policies admins keep, a new ticket's placement by its
  "ticket created" rules; the rule book.
- ``people/``: people, teams, categories, field definitions, permissions,
  preferences, tokens.
- ``audit/``: the audit log and its typed kinds.
- ``unit`` (the transaction a service works in, and where its events go),
  ``config/`` (settings), ``sla/``, ``routing/`` and ``rules/`` (pure rules: SLA
  clocks, assignment, automation rules' conditions and timing), ``store/``.

Beside the layers, the shared vocabulary any of them may use: ``model``,
``messages``, ``events`` (which names a ladder level of ``sla``), ``errors``,
``workflow``, ``ports``, ``clock``, ``options``, ``display_text``, ``network``,
``thread_index`` (Outlook's conversation index), all pure; and ``views``, the
read-only snapshots channels keep, built from the store's rows.

Finding things in one step:

- Where an email becomes a comment: ``channels/email/ingest.py`` hands an
  :class:`~bot.messages.Inbound` to ``Desk.receive`` (``desk/inbox.py``), and
  :func:`bot.tickets.intake.receive` places it
  (:func:`bot.tickets.placement.find_ticket`) and adds it
  (:func:`bot.tickets.changes.add_comment`).
- Where the SLA due time is computed: :func:`bot.sla.calendar.due` over the
  ticket's policy (:mod:`bot.sla.policy`); :mod:`bot.tickets.sla_clocks` keeps
  it on the ticket as it changes.
- Who decides that Slack hears about this: :mod:`bot.notify.subscriptions`
  lists the reactions to each event; :mod:`bot.notify.cards` keeps the support
  channel's card and thread, :mod:`bot.notify.audience` sends a person's DMs by
  their preferences (both queue through :mod:`bot.notify.slack`).
"""

"""The desk: the one object channels call (:class:`bot.desk.facade.Desk`).

One facade per concern, each method one transaction (:mod:`bot.desk.base`):

- ``inbox``: messages coming in (``receive``), bounces, who a chat user is,
  chat threads.
- ``changes``: what people do to tickets: comment, status, assign, classify,
  merge, escalate, attach.
- ``reading``: lists, one ticket as a person may see it, files, metrics,
  reports.
- ``jobs``: the timed jobs (SLA sweep, auto-close, expiry, audit export);
  ``scheduler`` runs them inside ``supportbot serve``.
- ``admin``: people, teams, categories, fields, preferences, tokens, webhooks,
  SLA policies, routing rules, the API's access log.
- ``base``: what they share: store, clock, settings, the rule book, and the
  event subscribers (the core's notifications, wired here).
"""

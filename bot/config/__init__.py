"""Settings: embedded defaults, then ``config/supportbot.toml``, then ``SUPPORTBOT_*``.

- ``settings``: :class:`~bot.config.settings.Settings` and ``load(path, environ)``,
  which types and checks every option (the SLA policies and ladder are built
  once here, so a bad one stops start-up naming the option).
- ``channels``: the channels' sections (email, relay, IMAP, mailboxes, Slack).

The SLA's own sections live with the SLA (:mod:`bot.sla.settings`); sharing's
status tables are checked when sharing is built. Nothing here touches the store.
"""

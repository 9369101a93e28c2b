"""Who hears about what, and the durable queue it goes through.

- ``subscriptions``: the core's reactions to :mod:`bot.events`, in one list.
- ``audience``: who hears of each event and how (their preferences, where a
  requester asked), email threading; the ladder's recipients.
- ``slack``: decides that Slack hears: each ticket's card and thread in the
  support channel, DMs. How it looks (Block Kit) is ``channels.slack``'s.
- ``webhooks``: subscriptions and the deliveries a change queues.
- ``contexts``: what templates see of a ticket and a person; ``render``: the
  Jinja2 environment every message is rendered in.
- ``outbox``: enqueue in the change's transaction, deliver after commit,
  retry, dead-letter; channels' senders deliver.
"""

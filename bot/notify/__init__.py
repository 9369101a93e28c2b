"""Who hears about what, and the durable queue it goes through.

- ``subscriptions``: the core's reactions to :mod:`bot.events`, in one list:
  for each event the card, the webhooks, then the people.
- ``cards``: the support channel's card and thread for each change.
- ``webhook_events``: which webhook events each change is.
- ``audience``: which people hear of each change and how (their preferences,
  where a requester asked), email threading; the ladder's recipients.
- ``slack``: what is queued for Slack: cards, thread posts, DMs. How it looks
  (Block Kit) is ``channels.slack``'s.
- ``webhooks``: subscriptions and queueing a delivery.
- ``contexts``: what templates see of a ticket and a person; ``render``: the
  Jinja2 environment every message is rendered in.
- ``outbox``: enqueue in the change's transaction, deliver after commit,
  retry, dead-letter; channels' senders deliver.
"""

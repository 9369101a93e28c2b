"""Reading back: nothing here writes.

- ``queries``: ticket lists with filters, one ticket in full, a person's view.
- ``sorting``: list orders and keyset pagination; ``search``: full-text search.
- ``files``: a ticket's files as a person may see them.
- ``reports``: SLA reports; ``metrics``: monitoring figures.
- ``dashboard``: the web dashboard's key figures (the open queue, the last 30 days).
- ``live``: the change stamps open web pages poll, and queue sizes.
- ``retries``: what a retried request (``Idempotency-Key``) already wrote.
"""

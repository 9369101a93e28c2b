"""Outgoing webhooks: the outbox's sender that POSTs signed JSON to subscribers' URLs."""

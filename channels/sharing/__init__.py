"""The ticket-sharing protocol over HTTP: the partner's requests in, ours out (through the outbox)."""

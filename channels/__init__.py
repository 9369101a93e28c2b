"""Adapters between the outside world (email, Slack, HTTP, the terminal) and the core."""

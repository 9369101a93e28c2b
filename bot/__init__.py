"""Supportbot's core: tickets, people, rules, time, the store and the outbox.

Nothing in this package knows a channel (email, Slack, HTTP); channels call
:class:`bot.desk.Desk` and hand it neutral :mod:`bot.messages` types.
"""

"""The audit log: every change on record, with who, when, before and after.

- ``kinds``: :class:`~bot.audit.kinds.AuditKind`, the one name of each kind of
  row; writers, reports and the API read the same names. Pure.
- ``log``: writing rows (``record``, ``record_now``, ``changed``) inside the
  change's transaction.
"""

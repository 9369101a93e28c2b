"""People and the desk's reference data, and what each person may do and hear.

- ``directory``: people, teams, categories and custom field definitions.
- ``fields``: custom field kinds and validation of values (pure).
- ``permissions``: who may do what, by role.
- ``prefs``: who hears how (channels per kind of event).
- ``tokens``: API tokens, tied to a person.
- ``robots``: addresses nobody reads (our own mailboxes, no-reply, daemons), and which
  messages a machine sent (other help desks' acknowledgements included).
"""

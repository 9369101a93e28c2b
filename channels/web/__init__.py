"""The web desk: server-rendered pages for requesters, agents and admins (see app.py)."""

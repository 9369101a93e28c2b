"""People, teams, categories and custom field definitions: the desk's reference data."""

from __future__ import annotations

from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any

from sqlalchemy import bindparam, delete, func, select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.display_text import one_line
from bot.errors import Conflict, NotFound, UserError
from bot.messages import Identity
from bot.model import Actor, FieldType, Role
from bot.people import fields
from bot.people.permissions import require_admin
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import Unit


def normalize_email(email: str) -> str:
    """Addresses compare case-insensitively in practice; store one spelling."""
    value = email.strip().lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or any(c.isspace() for c in value):
        raise UserError(f"{email!r} is not an email address", field="email")
    try:  # what we store must be what an email header will accept later
        parsed = Address(addr_spec=value).addr_spec
    except (ValueError, IndexError, HeaderParseError):
        raise UserError(f"{email!r} is not an email address", field="email") from None
    if parsed != value:
        raise UserError(f"{email!r} is not an email address", field="email")
    return value


def domain_of(email: str | None) -> str | None:
    """The domain of an address, as rules compare it (``requester_domain``)."""
    return email.rpartition("@")[2].lower() if email and "@" in email else None


def find_person(unit: Unit, email: str) -> t.Person:
    person = unit.session.scalar(select(t.Person).where(t.Person.email == normalize_email(email)))
    if person is None:
        raise NotFound(f"no person with email {email}; add them with 'supportbot people add'", field="email")
    return person


def find_agent(unit: Unit, email: str) -> t.Person:
    person = find_person(unit, email)
    if not Role(person.role).is_staff:
        raise UserError(
            f"{email} is a {person.role}; only agents and admins can be assigned", field="assignee"
        )
    return person


def known_person(unit: Unit, identity: Identity) -> t.Person | None:
    """The person if they are on record as ``identity`` says, with nothing to add; else None."""
    if not identity.slack_user_id:
        return None
    person = unit.session.scalar(select(t.Person).where(t.Person.slack_user_id == identity.slack_user_id))
    if person is None or (identity.email and person.email != normalize_email(identity.email)):
        return None
    if identity.name and not person.name:
        return None
    return person


# Where ensure_person leaves how many tickets the person opened since ``tickets_since``.
RECENT_TICKETS = "recent_tickets"
# Built once: the statement's cache key is then computed once, not per message.
_WITH_RECENT_TICKETS = select(
    t.Person,
    select(func.count())
    .select_from(t.Ticket)
    .where(t.Ticket.requester_id == t.Person.id, t.Ticket.created_at >= bindparam("since"))
    .scalar_subquery(),
).where(t.Person.email == bindparam("email"))


def ensure_person(unit: Unit, identity: Identity, *, tickets_since: datetime | None = None) -> t.Person:
    """The person behind an inbound message, created as a requester the first time they write.

    ``tickets_since``: also count, in the same statement, the tickets a person found by
    email opened since then (the burst limit's question, without a round trip of its own);
    the count is left in ``unit.lookups[(RECENT_TICKETS, person.id)]``.
    """
    session = unit.session
    email = normalize_email(identity.email) if identity.email else None
    if email is None and not identity.slack_user_id:
        raise UserError("a message needs a sender (an email address or a Slack user)", field="sender")
    person: t.Person | None = None
    if email is not None and tickets_since is not None:
        row = session.execute(_WITH_RECENT_TICKETS, {"email": email, "since": tickets_since}).first()
        if row is not None:
            person = row[0]
            unit.lookups[(RECENT_TICKETS, person.id)] = int(row[1])
    elif email is not None:
        person = session.scalar(select(t.Person).where(t.Person.email == email))
    if person is None and identity.slack_user_id:
        person = session.scalar(select(t.Person).where(t.Person.slack_user_id == identity.slack_user_id))

    def make() -> t.Person:
        return t.Person(
            email=email,
            slack_user_id=identity.slack_user_id,
            name=one_line(identity.name or "").strip(),
            role=Role.REQUESTER.value,
            created_at=unit.now,
        )

    if person is None:
        key = {"email": email} if email else {"slack_user_id": identity.slack_user_id}
        person = get_or_create(session, t.Person, make, **key)
        if person.created_at == unit.now:
            unit.new_people.add(person.id)
    if identity.name and not person.name:
        person.name = one_line(identity.name).strip()
    if identity.slack_user_id and not person.slack_user_id:
        # Linked by email: an agent added with 'people add' who now writes in Slack.
        holder = session.scalar(select(t.Person).where(t.Person.slack_user_id == identity.slack_user_id))
        if holder is not None and holder.email is None:
            # Made while Slack would not tell us the email (users.info failed): the Slack
            # user is the person with that email, so the link moves to them.
            holder.slack_user_id = None
            session.flush()
            holder = None
        if holder is None:
            person.slack_user_id = identity.slack_user_id
    return person


def add_person(
    unit: Unit,
    actor: Actor,
    *,
    email: str,
    name: str = "",
    role: Role = Role.REQUESTER,
    team: str | None = None,
    slack_user_id: str | None = None,
) -> t.Person:
    require_admin(actor, "add people")
    address = normalize_email(email)
    if unit.session.scalar(select(t.Person).where(t.Person.email == address)) is not None:
        raise Conflict(f"{address} is already a person; change them with 'people update'", field="email")
    if slack_user_id and unit.session.scalar(select(t.Person).where(t.Person.slack_user_id == slack_user_id)):
        raise Conflict(f"Slack user {slack_user_id} is already a person", field="slack_user_id")
    person = t.Person(
        email=address,
        name=one_line(name).strip(),
        role=role.value,
        slack_user_id=slack_user_id,
        team_id=find_team(unit, team).id if team else None,
        created_at=unit.now,
    )
    unit.session.add(person)
    unit.session.flush()
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.PERSON_ADDED,
        after={"email": address, "role": role.value, "team": team},
    )
    return person


def update_person(
    unit: Unit,
    actor: Actor,
    email: str,
    *,
    name: str | None = None,
    role: Role | None = None,
    team: str | None = None,
) -> t.Person:
    person = find_person(unit, email)
    before = {"name": person.name, "role": person.role, "team": person.team.name if person.team else None}
    if name is not None:
        person.name = one_line(name).strip()
    if role is not None and role.value != person.role:
        person.role = role.value
        # Sessions carry the role they were opened with and stop at a change anyway; this
        # forgets them at once.
        end_sessions_of(unit, person.id)
    if team is not None:
        person.team = find_team(unit, team) if team else None
    unit.session.flush()
    after = {"name": person.name, "role": person.role, "team": person.team.name if person.team else None}
    audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.PERSON_UPDATED, before=before, after=after)
    return person


def end_sessions_of(unit: Unit, person_id: int) -> int:
    """Every web session of a person (a role change, a new password): the person's own rows."""
    sessions = t.table_of(t.WebSession)
    result = unit.session.connection().execute(delete(sessions).where(sessions.c.person_id == person_id))
    return int(result.rowcount or 0)


def set_team_lead(unit: Unit, actor: Actor, name: str, email: str | None) -> str:
    """Who the escalation ladder's ``team_lead`` step reaches for this team (None: nobody)."""
    team = find_team(unit, name)
    lead = find_agent(unit, email) if email else None
    before = team.lead_id
    team.lead_id = lead.id if lead else None
    if before != team.lead_id:
        audit.record(
            unit,
            ticket_id=None,
            actor=actor,
            kind=AuditKind.TEAM_LEAD_SET,
            after={"team": team.name, "lead": email},
        )
    return team.name


def find_team(unit: Unit, name: str) -> t.Team:
    team = unit.session.scalar(select(t.Team).where(func.lower(t.Team.name) == name.strip().lower()))
    if team is None:
        raise NotFound(f"no team named {name!r}; add it with 'supportbot teams add'", field="team")
    return team


def add_team(unit: Unit, actor: Actor, name: str) -> t.Team:
    clean = name.strip()
    if not clean:
        raise UserError("a team needs a name", field="name")
    if unit.session.scalar(select(t.Team).where(func.lower(t.Team.name) == clean.lower())):
        raise Conflict(f"team {clean!r} exists already", field="name")
    team = t.Team(name=clean, created_at=unit.now)
    unit.session.add(team)
    unit.session.flush()
    audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.TEAM_ADDED, after={"name": clean})
    return team


def find_category(unit: Unit, path: str) -> t.Category:
    clean = "/".join(part.strip() for part in path.split("/") if part.strip())
    category = unit.session.scalar(select(t.Category).where(func.lower(t.Category.path) == clean.lower()))
    if category is None:
        known = (
            ", ".join(unit.session.scalars(select(t.Category.path).order_by(t.Category.path))) or "none yet"
        )
        raise NotFound(f"no category {path!r}; known: {known}", field="category")
    return category


def add_category(unit: Unit, actor: Actor, path: str, *, team: str | None = None) -> t.Category:
    """``Network/VPN`` adds VPN under Network; the parent must exist first."""
    require_admin(actor, "add categories")
    parts = [part.strip() for part in path.split("/") if part.strip()]
    if not parts:
        raise UserError("a category needs a name", field="path")
    clean = "/".join(parts)
    if unit.session.scalar(select(t.Category).where(func.lower(t.Category.path) == clean.lower())):
        raise Conflict(f"category {clean!r} exists already", field="path")
    parent = find_category(unit, "/".join(parts[:-1])) if len(parts) > 1 else None
    category = t.Category(
        path=clean,
        name=parts[-1],
        parent_id=parent.id if parent else None,
        team_id=find_team(unit, team).id if team else None,
        created_at=unit.now,
    )
    unit.session.add(category)
    unit.session.flush()
    audit.record(
        unit, ticket_id=None, actor=actor, kind=AuditKind.CATEGORY_ADDED, after={"path": clean, "team": team}
    )
    return category


def define_field(
    unit: Unit,
    actor: Actor,
    *,
    key: str,
    label: str,
    kind: str,
    options: dict[str, Any] | None = None,
    required: bool = False,
) -> t.CustomField:
    require_admin(actor, "define custom fields")
    field_type = fields.parse_field_type(kind)
    clean_key = key.strip().lower()
    if not clean_key.replace("_", "").isalnum():
        raise UserError(f"field key {key!r} may hold only letters, digits and _", field="key")
    if unit.session.scalar(select(t.CustomField).where(t.CustomField.key == clean_key)):
        raise Conflict(f"custom field {clean_key!r} exists already", field="key")
    definition = t.CustomField(
        key=clean_key,
        label=label.strip() or clean_key,
        type=field_type.value,
        options=fields.check_definition(field_type, options or {}),
        required=required,
        created_at=unit.now,
    )
    unit.session.add(definition)
    unit.session.flush()
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.FIELD_DEFINED,
        after={"key": clean_key, "type": field_type.value, "options": definition.options},
    )
    return definition


def field_value(unit: Unit, key: str, value: Any) -> Any:
    """``value`` as the field ``key`` would store it (None clears), or the error naming it:
    what a form, a rule's action and its check before saving all ask."""
    if value is None:
        find_field(unit, key)
        return None
    definition = find_field(unit, key)
    return fields.validate_value(key, FieldType(definition.type), definition.options, value)


def find_field(unit: Unit, key: str) -> t.CustomField:
    definition = unit.session.scalar(select(t.CustomField).where(t.CustomField.key == key.strip().lower()))
    if definition is None:
        known = (
            ", ".join(unit.session.scalars(select(t.CustomField.key).order_by(t.CustomField.key)))
            or "none yet"
        )
        raise NotFound(f"no custom field {key!r}; known: {known}", field="field")
    return definition

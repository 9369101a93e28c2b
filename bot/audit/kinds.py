"""What an audit row says happened: one name per kind of change.

The values are the strings stored in the ``events.kind`` column, shown by the API, the CLI and
the audit export; renaming one changes what is on record, so only the member names are free.
"""

from __future__ import annotations

from enum import StrEnum


class AuditKind(StrEnum):
    # A ticket comes in, opens, and gathers people.
    RECEIVED = "received"
    CREATED = "created"
    OPENED_FOR = "opened_for"
    LINKED = "linked"
    BOUNCE_RECEIVED = "bounce_received"
    FOLLOWERS_ADDED = "followers_added"
    ATTACHMENT_REFUSED = "attachment_refused"
    ACKNOWLEDGEMENT_SUPPRESSED = "acknowledgement_suppressed"
    # Mail held back from the desk (spam, a banned sender, a flood, a message that kept
    # failing), released by an agent, or deleted.
    MAIL_SUSPENDED = "mail_suspended"
    MAIL_RELEASED = "mail_released"
    MAIL_DELETED = "mail_deleted"
    SENDER_BANNED = "sender_banned"
    SENDER_UNBANNED = "sender_unbanned"
    # A ticket changes.
    COMMENTED = "commented"
    STATUS_CHANGED = "status_changed"
    STATUS_REFUSED = "status_refused"
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    MERGED = "merged"
    MERGED_FROM = "merged_from"
    EXPIRED = "expired"
    PRIORITY_CHANGED = "priority_changed"
    CATEGORY_CHANGED = "category_changed"
    TEAM_CHANGED = "team_changed"
    TAGS_CHANGED = "tags_changed"
    SUBJECT_CHANGED = "subject_changed"
    FIELD_CHANGED = "field_changed"
    # Rules woke rules for too long on this ticket: the chain was cut (bot.automation.engine).
    AUTOMATION_CHAIN_STOPPED = "automation_chain_stopped"
    FIELD_REFUSED = "field_refused"
    # Sharing tickets with a partner help desk.
    SHARED = "shared"
    UNSHARED = "unshared"
    SHARING_INVITED = "sharing_invited"
    SHARING_INVITATION = "sharing_invitation"
    SHARING_ACCEPTED = "sharing_accepted"
    SHARING_DECLINED = "sharing_declined"
    SHARING_INACTIVE = "sharing_inactive"
    SHARING_CONFIRMED = "sharing_confirmed"
    SHARING_INVITATIONS_EXPIRED = "sharing_invitations_expired"
    SHARING_INVITATION_DISMISSED = "sharing_invitation_dismissed"
    SHARING_INVITATIONS_CLEARED = "sharing_invitations_cleared"
    # People, teams, categories and fields.
    PERSON_ADDED = "person_added"
    PERSON_UPDATED = "person_updated"
    PREFERENCE_CHANGED = "preference_changed"
    TEAM_ADDED = "team_added"
    TEAM_LEAD_SET = "team_lead_set"
    CATEGORY_ADDED = "category_added"
    FIELD_DEFINED = "field_defined"
    # Rules set at run time.
    ROUTING_RULE_ADDED = "routing_rule_added"
    ROUTING_RULE_CHANGED = "routing_rule_changed"
    ROUTING_RULE_REMOVED = "routing_rule_removed"
    AUTOMATION_RULE_ADDED = "automation_rule_added"
    AUTOMATION_RULE_CHANGED = "automation_rule_changed"
    AUTOMATION_RULE_REMOVED = "automation_rule_removed"
    SLA_POLICY_ADDED = "sla_policy_added"
    SLA_POLICY_CHANGED = "sla_policy_changed"
    SLA_POLICY_REMOVED = "sla_policy_removed"
    # Access and integrations.
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    PASSWORD_SET = "password_set"
    SIGNED_IN = "signed_in"
    WEBHOOK_ADDED = "webhook_added"
    WEBHOOK_REMOVED = "webhook_removed"
    API_REQUEST = "api_request"

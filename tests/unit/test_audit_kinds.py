"""The audit kinds are the strings on record: renaming a stored value is a deliberate change."""

from __future__ import annotations

import json

from bot.audit.kinds import AuditKind

# Every kind in the events table, the API, the CLI and the audit export, as stored today.
STORED = {
    "received",
    "created",
    "opened_for",
    "linked",
    "bounce_received",
    "followers_added",
    "attachment_refused",
    "acknowledgement_suppressed",
    "commented",
    "status_changed",
    "status_refused",
    "assigned",
    "escalated",
    "merged",
    "merged_from",
    "expired",
    "priority_changed",
    "category_changed",
    "team_changed",
    "tags_changed",
    "subject_changed",
    "field_changed",
    "field_refused",
    "shared",
    "unshared",
    "sharing_invited",
    "sharing_invitation",
    "sharing_accepted",
    "sharing_declined",
    "sharing_inactive",
    "sharing_confirmed",
    "sharing_invitations_expired",
    "sharing_invitation_dismissed",
    "sharing_invitations_cleared",
    "person_added",
    "person_updated",
    "preference_changed",
    "team_added",
    "team_lead_set",
    "category_added",
    "field_defined",
    "routing_rule_added",
    "routing_rule_changed",
    "routing_rule_removed",
    "automation_rule_added",
    "automation_rule_changed",
    "automation_rule_removed",
    "automation_chain_stopped",
    "sla_policy_added",
    "sla_policy_changed",
    "sla_policy_removed",
    "token_created",
    "token_revoked",
    "password_set",
    "signed_in",
    "webhook_added",
    "webhook_removed",
    "api_request",
    "mail_suspended",
    "mail_released",
    "mail_deleted",
    "sender_banned",
    "sender_unbanned",
}


def test_audit_kinds_are_exactly_the_stored_strings() -> None:
    assert {kind.value for kind in AuditKind} == STORED
    assert len(AuditKind) == len(STORED)


def test_audit_kind_reads_and_serialises_as_its_stored_string() -> None:
    assert AuditKind.ESCALATED == "escalated"
    assert f"{AuditKind.STATUS_CHANGED}" == "status_changed"
    assert json.dumps({"kind": AuditKind.MERGED_FROM}) == '{"kind": "merged_from"}'

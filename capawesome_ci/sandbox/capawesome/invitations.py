"""Organization invitations (`/v1/organizations/{organization}/invitations…`): invite by e-mail
with a role (pending for seven days), list (free text over the e-mail, role), revoke."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from capawesome_ci.sandbox.capawesome.admin_fields import email_field, enum_field
from capawesome_ci.sandbox.capawesome.organizations import requested_organization
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import paginate
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

ROLES = ("admin", "billing", "member", "viewer")


def create_invitation(state: SandboxState, request: Request) -> Response:
    organization, body = requested_organization(state, request), request.json()
    email = email_field(body, "email")
    role = enum_field(body, "role", ROLES, required=True)
    members = [m for m in state.members.values() if m["organizationId"] == organization["id"]]
    if any(member["user"]["email"].lower() == email for member in members):
        raise invalid(["email"], "The user is already a member of the organization.")
    if any(i["organizationId"] == organization["id"] and i["email"] == email for i in state.invitations.values()):
        raise invalid(["email"], "The user has already been invited.")
    stamp = iso()
    invitation = {
        "id": new_id(),
        "organizationId": organization["id"],
        "email": email,
        "role": role,
        "status": "pending",
        "expiresAt": iso(datetime.now(timezone.utc) + timedelta(days=7)),
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.invitations[invitation["id"]] = invitation
    return Response(201, invitation)


def list_invitations(state: SandboxState, request: Request) -> Response:
    organization, query = requested_organization(state, request), request.query
    role = enum_field(query, "role", ROLES)
    invitations = [
        invitation
        for invitation in state.invitations.values()
        if invitation["organizationId"] == organization["id"]
        and role in (None, invitation["role"])
        and query.get("query", "").lower() in invitation["email"]
    ]
    return Response(body=paginate(invitations, request))


def delete_invitation(state: SandboxState, request: Request) -> Response:
    organization = requested_organization(state, request)
    invitation = state.invitations.get(request.params["invitation"])
    if invitation is None or invitation["organizationId"] != organization["id"]:
        raise not_found("Organization invitation")
    del state.invitations[invitation["id"]]
    return Response(204)

"""Organization members (`/v1/organizations/{organization}/members…`): list (by id, free text over
the user's e-mail and name, role) and remove. The owner cannot be removed; a removed member leaves
their teams too."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import enum_field
from capawesome_ci.sandbox.capawesome.organizations import requested_organization
from capawesome_ci.sandbox.capawesome.state import SandboxState
from capawesome_ci.sandbox.capawesome.validation import paginate
from capawesome_ci.sandbox.server import Request, Response, bad_request, not_found

ROLES = ("owner", "admin", "billing", "member", "viewer")


def organization_member(state: SandboxState, organization_id: str, member_id: str) -> dict[str, Any]:
    member = state.members.get(member_id)
    if member is None or member["organizationId"] != organization_id:
        raise not_found("Organization member")
    return member


def list_members(state: SandboxState, request: Request) -> Response:
    organization, query = requested_organization(state, request), request.query
    role = enum_field(query, "role", ROLES)
    text = query.get("query", "").lower()
    members = [
        member
        for member in state.members.values()
        if member["organizationId"] == organization["id"]
        and query.get("id") in (None, member["id"])
        and role in (None, member["role"])
        and (text in member["user"]["email"].lower() or text in member["user"]["name"].lower())
    ]
    return Response(body=paginate(members, request))


def delete_member(state: SandboxState, request: Request) -> Response:
    organization = requested_organization(state, request)
    member = organization_member(state, organization["id"], request.params["member"])
    if member["role"] == "owner":
        raise bad_request("The owner of an organization cannot be removed.")
    del state.members[member["id"]]
    for team_member in [t for t in state.team_members.values() if t["memberId"] == member["id"]]:
        del state.team_members[team_member["id"]]
    return Response(204)

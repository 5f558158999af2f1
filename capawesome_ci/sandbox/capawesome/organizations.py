"""Organizations (`/v1/organizations`, `/v1/organizations/{organization}`): create, list, read,
update (name, country and IP allowlists, two-factor requirement). `requested_organization`
resolves the `{organization}` of every organization-scoped route (members, invitations, teams, git
connections, license keys)."""

from __future__ import annotations

import ipaddress
from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import bool_field, name_field, string_items
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso
from capawesome_ci.sandbox.capawesome.validation import string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found


def requested_organization(state: SandboxState, request: Request) -> dict[str, Any]:
    organization = state.organizations.get(request.params["organization"])
    if organization is None:
        raise not_found("Organization")
    return organization


def _allowlists(body: dict[str, Any]) -> None:
    for index, code in enumerate(string_items(body, "countryAllowlist", nullable=True) or []):
        if len(code) != 2 or not code.isalpha() or not code.isupper():
            raise invalid(["countryAllowlist", index], "Invalid ISO 3166-1 alpha-2 country code")
    for index, address in enumerate(string_items(body, "ipAllowlist", nullable=True) or []):
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise invalid(["ipAllowlist", index], "Invalid IP address or CIDR range") from None


def create_organization(state: SandboxState, request: Request) -> Response:
    body = request.json()
    name = name_field(body, required=True) or ""
    string_field(body, "trialCode")
    return Response(201, state.add_organization(name))


def list_organizations(state: SandboxState, request: Request) -> Response:
    mine = {member["organizationId"] for member in state.members.values() if member["userId"] == state.user["id"]}
    return Response(body=[org for org in state.organizations.values() if org["id"] in mine])


def get_organization(state: SandboxState, request: Request) -> Response:
    return Response(body=requested_organization(state, request))


def update_organization(state: SandboxState, request: Request) -> Response:
    organization, body = requested_organization(state, request), request.json()
    name = name_field(body, required=False)
    _allowlists(body)
    two_factor = bool_field(body, "twoFactorRequired")
    if name is not None:
        organization["name"] = name
    for key in ("countryAllowlist", "ipAllowlist"):
        if key in body:
            organization[key] = body[key] or None
    if two_factor is not None:
        organization["twoFactorRequired"] = two_factor
    organization["updatedAt"] = iso()
    return Response(body=organization)

"""Teams of an organization (`/v1/organizations/{organization}/teams…`): create, list, read (with
`relations=apps,members`), update, delete; and what a team holds: its apps (the apps its members
may work on) and its members (organization members), each added, listed and removed."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import name_field
from capawesome_ci.sandbox.capawesome.members import organization_member
from capawesome_ci.sandbox.capawesome.organizations import requested_organization
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import paginate, string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found


def _team(state: SandboxState, request: Request) -> dict[str, Any]:
    organization = requested_organization(state, request)
    team = state.teams.get(request.params["team"])
    if team is None or team["organizationId"] != organization["id"]:
        raise not_found("Team")
    return team


def _team_fields(state: SandboxState, team: dict[str, Any] | None, organization_id: str, body: dict[str, Any]) -> None:
    name = name_field(body, required=team is None)
    others = [t for t in state.teams.values() if t["organizationId"] == organization_id and t is not team]
    if name is not None and any(other["name"] == name for other in others):
        raise invalid(["name"], "Team name already exists.")
    string_field(body, "description")


def _team_json(state: SandboxState, team: dict[str, Any], request: Request) -> dict[str, Any]:
    relations, extra = request.relations(), {}
    if "apps" in relations:
        extra["apps"] = [item for item in state.team_apps.values() if item["teamId"] == team["id"]]
    if "members" in relations:
        extra["members"] = [item for item in state.team_members.values() if item["teamId"] == team["id"]]
    return {**team, **extra}


def create_team(state: SandboxState, request: Request) -> Response:
    organization, body = requested_organization(state, request), request.json()
    _team_fields(state, None, organization["id"], body)
    stamp = iso()
    team = {
        "id": new_id(),
        "organizationId": organization["id"],
        "name": body["name"],
        "description": body.get("description"),
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.teams[team["id"]] = team
    return Response(201, team)


def list_teams(state: SandboxState, request: Request) -> Response:
    organization, query = requested_organization(state, request), request.query
    teams = [
        team
        for team in state.teams.values()
        if team["organizationId"] == organization["id"]
        and query.get("name") in (None, team["name"])
        and query.get("query", "").lower() in team["name"].lower()
    ]
    return Response(body=[_team_json(state, team, request) for team in paginate(teams, request)])


def get_team(state: SandboxState, request: Request) -> Response:
    return Response(body=_team_json(state, _team(state, request), request))


def update_team(state: SandboxState, request: Request) -> Response:
    team, body = _team(state, request), request.json()
    _team_fields(state, team, team["organizationId"], body)
    if body.get("name") is not None:
        team["name"] = body["name"]
    if "description" in body:
        team["description"] = body["description"]
    team["updatedAt"] = iso()
    return Response(body=team)


def delete_team(state: SandboxState, request: Request) -> Response:
    team = _team(state, request)
    del state.teams[team["id"]]
    for holdings in (state.team_apps, state.team_members):
        for item_id in [item["id"] for item in holdings.values() if item["teamId"] == team["id"]]:
            del holdings[item_id]
    return Response(204)


# -- team apps -----------------------------------------------------------------------------------
def create_team_app(state: SandboxState, request: Request) -> Response:
    team, body = _team(state, request), request.json()
    app_id = string_field(body, "appId", required=True) or ""
    app = state.apps.get(app_id)
    if app is None or app["organizationId"] != team["organizationId"]:
        raise not_found("App")
    if any(item["teamId"] == team["id"] and item["appId"] == app_id for item in state.team_apps.values()):
        raise invalid(["appId"], "The app is already assigned to the team.")
    item = {"id": new_id(), "teamId": team["id"], "appId": app_id, "createdAt": iso()}
    state.team_apps[item["id"]] = item
    return Response(201, item)


def list_team_apps(state: SandboxState, request: Request) -> Response:
    team, relations = _team(state, request), request.relations()
    items = paginate([item for item in state.team_apps.values() if item["teamId"] == team["id"]], request)
    if "app" in relations:
        items = [{**item, "app": state.apps.get(item["appId"])} for item in items]
    return Response(body=items)


def delete_team_app(state: SandboxState, request: Request) -> Response:
    team = _team(state, request)
    item = state.team_apps.get(request.params["item"])
    if item is None or item["teamId"] != team["id"]:
        raise not_found("Team app")
    del state.team_apps[item["id"]]
    return Response(204)


# -- team members --------------------------------------------------------------------------------
def create_team_member(state: SandboxState, request: Request) -> Response:
    team, body = _team(state, request), request.json()
    member_id = string_field(body, "memberId", required=True) or ""
    organization_member(state, team["organizationId"], member_id)
    if any(item["teamId"] == team["id"] and item["memberId"] == member_id for item in state.team_members.values()):
        raise invalid(["memberId"], "The member is already part of the team.")
    item = {"id": new_id(), "teamId": team["id"], "memberId": member_id, "createdAt": iso()}
    state.team_members[item["id"]] = item
    return Response(201, item)


def list_team_members(state: SandboxState, request: Request) -> Response:
    team, relations = _team(state, request), request.relations()
    items = paginate([item for item in state.team_members.values() if item["teamId"] == team["id"]], request)
    if "member" in relations:
        items = [{**item, "member": state.members.get(item["memberId"])} for item in items]
    return Response(body=items)


def delete_team_member(state: SandboxState, request: Request) -> Response:
    team = _team(state, request)
    item = state.team_members.get(request.params["item"])
    if item is None or item["teamId"] != team["id"]:
        raise not_found("Team member")
    del state.team_members[item["id"]]
    return Response(204)

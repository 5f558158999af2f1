"""License keys of an organization (`/v1/organizations/{organization}/license-keys…`): create,
list, read (with `relations=licenseKeyPackages,licenseKeyPackages.package`), update (name, the
packages it grants), delete, rotate (a new key; the old one stops working)."""

from __future__ import annotations

import secrets
from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import name_field, string_items
from capawesome_ci.sandbox.capawesome.organizations import requested_organization
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.server import Request, Response, not_found


def _new_key() -> str:
    return "cik_" + secrets.token_hex(16)


def _requested(state: SandboxState, request: Request) -> dict[str, Any]:
    organization = requested_organization(state, request)
    key = state.license_keys.get(request.params["key"])
    if key is None or key["organizationId"] != organization["id"]:
        raise not_found("License key")
    return key


def _key_json(key: dict[str, Any], request: Request) -> dict[str, Any]:
    """The stored record carries `packageIds`; the API shows them only as the relation."""
    relations = request.relations()
    shown = {name: value for name, value in key.items() if name != "packageIds"}
    if "licenseKeyPackages" in relations or "licenseKeyPackages.package" in relations:
        with_package = "licenseKeyPackages.package" in relations
        shown["licenseKeyPackages"] = [
            {
                "id": f"{key['id']}:{package_id}",
                "licenseKeyId": key["id"],
                "packageId": package_id,
                **({"package": {"id": package_id, "name": package_id}} if with_package else {}),
            }
            for package_id in key["packageIds"]
        ]
    return shown


def create_key(state: SandboxState, request: Request) -> Response:
    organization, body = requested_organization(state, request), request.json()
    name = name_field(body, required=True)
    package_ids = string_items(body, "packageIds") or []
    key = {
        "id": new_id(),
        "organizationId": organization["id"],
        "name": name,
        "key": _new_key(),
        "packageIds": sorted(set(package_ids)),
        "expiresAt": None,
        "createdAt": iso(),
    }
    state.license_keys[key["id"]] = key
    return Response(201, _key_json(key, request))


def list_keys(state: SandboxState, request: Request) -> Response:
    organization = requested_organization(state, request)
    keys = [key for key in state.license_keys.values() if key["organizationId"] == organization["id"]]
    return Response(body=[_key_json(key, request) for key in keys])


def get_key(state: SandboxState, request: Request) -> Response:
    return Response(body=_key_json(_requested(state, request), request))


def update_key(state: SandboxState, request: Request) -> Response:
    key, body = _requested(state, request), request.json()
    name = name_field(body, required=False)
    package_ids = string_items(body, "packageIds")
    if name is not None:
        key["name"] = name
    if package_ids is not None:
        key["packageIds"] = sorted(set(package_ids))
    return Response(body=_key_json(key, request))


def delete_key(state: SandboxState, request: Request) -> Response:
    del state.license_keys[_requested(state, request)["id"]]
    return Response(204)


def rotate_key(state: SandboxState, request: Request) -> Response:
    key = _requested(state, request)
    key["key"] = _new_key()
    return Response(body=_key_json(key, request))

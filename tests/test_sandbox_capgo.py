"""The Capgo emulator over real loopback HTTP (httpx): authentication, Capgo's error shapes, the
channel rollout rules of `POST /channel` (one test each), bundle names that are never reused, bundle
paging with its 400 past the end, the upload and download of stored zips, faults, `sandbox serve`."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from capawesome_ci.errors import InputError
from capawesome_ci.sandbox.capgo.start import CapgoEmulator, config_from_environment, start_capgo
from capawesome_ci.sandbox.capgo.state import CapgoConfig

APP = "com.example.app"
TOKEN = "capgo-sandbox-key-0123"


@pytest.fixture
def emulator() -> Iterator[CapgoEmulator]:
    with CapgoEmulator(CapgoConfig(token=TOKEN)) as running:
        yield running


@pytest.fixture
def api(emulator: CapgoEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers={"authorization": TOKEN}, timeout=10) as client:
        yield client


def bundle(api: httpx.Client, version: str, **extra: Any) -> dict[str, Any]:
    body = {"app_id": APP, "version": version, "external_url": f"https://cdn.example.com/{version}.zip"}
    answer = api.post("/bundle", json={"checksum": "ab" * 32, **body, **extra})
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()["bundle"]
    return created


def channel(api: httpx.Client, name: str = "production") -> dict[str, Any]:
    answer = api.get("/channel", params={"app_id": APP, "channel": name})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def set_channel(api: httpx.Client, **fields: Any) -> httpx.Response:
    return api.post("/channel", json={"app_id": APP, "channel": "production", **fields})


def assert_error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "moreInfo" in body
    assert answer.headers.get("x-request-id")
    return body


@pytest.fixture
def stable(api: httpx.Client) -> dict[str, Any]:
    """production with 1.0.0 stable and 1.0.1, 1.0.2 uploaded."""
    first = bundle(api, "1.0.0")
    bundle(api, "1.0.1")
    bundle(api, "1.0.2")
    assert set_channel(api, version="1.0.0").json() == {"status": "ok"}
    return first


# -- auth and shapes ----------------------------------------------------------------------------------
def test_the_raw_key_is_accepted_in_authorization_or_capgkey(emulator: CapgoEmulator) -> None:
    for header in ("authorization", "capgkey"):
        answer = httpx.get(f"{emulator.base_url}/app/{APP}", headers={header: TOKEN})
        assert answer.status_code == 200, answer.text
        assert answer.json()["app_id"] == APP
        assert answer.headers["x-request-id"]


def test_no_key_and_a_wrong_key_are_401_in_capgos_shape(emulator: CapgoEmulator) -> None:
    assert_error(httpx.get(f"{emulator.base_url}/app"), 401, "no_key_provided")
    assert_error(httpx.get(f"{emulator.base_url}/app", headers={"authorization": "nope"}), 401, "invalid_apikey")
    bearer = httpx.get(f"{emulator.base_url}/app", headers={"authorization": f"Bearer {TOKEN}"})
    assert_error(bearer, 401, "invalid_apikey")  # the raw key, no scheme


def test_unknown_routes_are_404_and_a_trailing_slash_is_accepted(api: httpx.Client) -> None:
    assert api.get("/nowhere").status_code == 404
    assert api.get("/nowhere").json()["error"] == "not_found"
    assert api.get("/app/").status_code == 200
    assert api.get("/channel/", params={"app_id": APP}).status_code == 200


def test_the_seed_is_the_app_and_a_production_channel_without_a_stable_bundle(api: httpx.Client) -> None:
    apps = api.get("/app").json()
    assert [app["app_id"] for app in apps] == [APP]  # a bare array
    production = channel(api)
    assert production["name"] == "production"
    assert production["version"] is None and production["rollout_version_info"] is None
    assert production["rolloutPercentageBps"] == 0 and production["rolloutEnabled"] is False


def test_the_app_id_and_token_come_from_the_environment() -> None:
    config = config_from_environment({"CAPGO_SANDBOX_APP_ID": "io.acme.shop", "CAPGO_SANDBOX_TOKEN": "k-1"})
    assert (config.app_id, config.token) == ("io.acme.shop", "k-1")
    with pytest.raises(InputError, match="CAPGO_SANDBOX_APP_ID"):
        config_from_environment({"CAPGO_SANDBOX_APP_ID": "not an app"})
    with pytest.raises(InputError, match="CAPGO_SANDBOX_FAULTS"):
        config_from_environment({"CAPGO_SANDBOX_FAULTS": "GET /app bogus"})
    with start_capgo({"CAPGO_SANDBOX_APP_ID": "io.acme.shop"}) as access:
        assert access.app_id == "io.acme.shop"
        answer = httpx.get(f"{access.base_url}/app/io.acme.shop", headers={"authorization": access.token})
        assert answer.status_code == 200


def test_apps_are_created_once_in_the_keys_organisation(api: httpx.Client) -> None:
    org = api.get(f"/app/{APP}").json()["owner_org"]
    created = api.post("/app", json={"app_id": "io.acme.two", "name": "Two", "owner_org": org})
    assert created.status_code == 200 and created.json()["app_id"] == "io.acme.two"
    assert_error(
        api.post("/app", json={"app_id": "io.acme.two", "name": "Two", "owner_org": org}), 409, "app_id_already_exists"
    )
    assert_error(
        api.post("/app", json={"app_id": "io.acme.three", "name": "x", "owner_org": "other"}),
        403,
        "cannot_access_organization",
    )
    assert_error(api.post("/app", json={"app_id": "nodots", "name": "x", "owner_org": org}), 400, "invalid_app_id")
    assert_error(api.get("/app/io.acme.none"), 401, "cannot_access_app")


def test_malformed_json_is_capgos_invalid_json_error(api: httpx.Client) -> None:
    answer = api.post("/channel", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(answer, 400, "invalid_json_parse_body")


# -- bundles ------------------------------------------------------------------------------------------
def test_a_bundle_registers_an_https_external_url_with_its_checksum_and_keys(api: httpx.Client) -> None:
    created = bundle(api, "1.2.3-beta.1", session_key="iv:wrapped", key_id="abcdefghij0123456789")
    assert created["name"] == "1.2.3-beta.1"
    assert created["storage_provider"] == "external"
    assert (created["session_key"], created["key_id"]) == ("iv:wrapped", "abcdefghij0123456789")
    plain = {"app_id": APP, "version": "2.0.0", "checksum": "c"}
    assert_error(api.post("/bundle", json={**plain, "external_url": "http://cdn/x.zip"}), 400, "invalid_protocol")
    assert_error(
        api.post("/bundle", json={**plain, "version": "v2", "external_url": "https://x"}), 400, "invalid_version_format"
    )
    assert_error(api.post("/bundle", json={"app_id": APP, "version": "2.0.0"}), 400, "missing_external_url")
    other = {**plain, "app_id": "io.other.app", "external_url": "https://x"}
    assert_error(api.post("/bundle", json=other), 400, "cannot_create_bundle")


def test_a_bundle_name_is_unique_per_app_even_after_delete(api: httpx.Client) -> None:
    bundle(api, "1.0.0")
    again = {"app_id": APP, "version": "1.0.0", "external_url": "https://x/1.zip", "checksum": "c"}
    assert_error(api.post("/bundle", json=again), 400, "version_already_exists")
    assert api.request("DELETE", "/bundle", json={"app_id": APP, "version": "1.0.0"}).json() == {"status": "ok"}
    body = assert_error(api.post("/bundle", json=again), 400, "cannot_create_bundle")
    assert body["moreInfo"]["supabaseError"]["code"] == "23505"  # the (name, app_id) constraint


def test_bundles_are_paged_newest_first_50_a_page_and_an_empty_page_is_a_400(api: httpx.Client) -> None:
    assert_error(api.get("/bundle", params={"app_id": APP}), 400, "cannot_get_bundle")  # no bundle yet
    for minor in range(51):
        bundle(api, f"1.{minor}.0")
    first = api.get("/bundle", params={"app_id": APP}).json()
    assert len(first) == 50 and first[0]["name"] == "1.50.0" and first[-1]["name"] == "1.1.0"
    second = api.get("/bundle", params={"app_id": APP, "page": 1}).json()
    assert [row["name"] for row in second] == ["1.0.0"]
    assert_error(api.get("/bundle", params={"app_id": APP, "page": 2}), 400, "cannot_get_bundle")


def test_put_bundle_sets_the_stable_bundle_by_ids(api: httpx.Client) -> None:
    created = bundle(api, "1.0.0")
    production = channel(api)
    answer = api.put("/bundle", json={"app_id": APP, "version_id": created["id"], "channel_id": production["id"]})
    assert answer.json() == {"status": "success", "message": "Bundle 1.0.0 set to channel production"}
    assert channel(api)["version"] == {"name": "1.0.0", "id": created["id"]}
    missing = {"app_id": APP, "version_id": 999, "channel_id": production["id"]}
    assert_error(api.put("/bundle", json=missing), 400, "cannot_find_version")
    assert_error(api.put("/bundle", json={"app_id": APP}), 400, "missing_required_fields")


def test_a_stable_or_rollout_bundle_cannot_be_deleted_and_delete_all_spares_them(
    api: httpx.Client, stable: dict[str, Any]
) -> None:
    assert set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=10).status_code == 200
    for linked in ("1.0.0", "1.0.1"):
        answer = api.request("DELETE", "/bundle", json={"app_id": APP, "version": linked})
        assert_error(answer, 400, "cannot_delete_linked_version")
    assert api.request("DELETE", "/bundle", json={"app_id": APP}).json() == {"status": "ok"}
    names = [row["name"] for row in api.get("/bundle", params={"app_id": APP}).json()]
    assert sorted(names) == ["1.0.0", "1.0.1"]


# -- the rollout rules of POST /channel ---------------------------------------------------------------
def test_a_rollout_needs_a_stable_bundle(api: httpx.Client) -> None:
    bundle(api, "1.0.1")
    body = assert_error(set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=10), 400, "missing_stable_version")
    assert body["moreInfo"] == {"app_id": APP, "channel": "production"}


def test_a_rollout_with_the_stable_bundle_in_the_same_request_is_accepted(api: httpx.Client) -> None:
    bundle(api, "1.0.0")
    bundle(api, "1.0.1")
    assert set_channel(api, version="1.0.0", rolloutVersion="1.0.1", rolloutPercentage=10).status_code == 200
    production = channel(api)
    assert production["version"]["name"] == "1.0.0" and production["rollout_version_info"]["name"] == "1.0.1"


def test_an_explicit_null_stable_bundle_refuses_a_rollout(api: httpx.Client, stable: dict[str, Any]) -> None:
    assert_error(set_channel(api, version=None, rolloutVersion="1.0.1"), 400, "missing_stable_version")


def test_the_rollout_target_is_a_name_or_an_id(api: httpx.Client, stable: dict[str, Any]) -> None:
    assert set_channel(api, rolloutVersion="1.0.1").status_code == 200
    assert channel(api)["rollout_version_info"]["name"] == "1.0.1"
    by_id = bundle(api, "1.0.3")["id"]
    assert set_channel(api, rolloutVersion=by_id).status_code == 200
    assert channel(api)["rollout_version"] == by_id


def test_percentage_is_0_to_100_and_stored_in_basis_points(api: httpx.Client, stable: dict[str, Any]) -> None:
    assert set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=12.5, rolloutEnabled=True).status_code == 200
    production = channel(api)
    assert (production["rolloutPercentageBps"], production["rolloutEnabled"]) == (1250, True)
    assert_error(set_channel(api, rolloutPercentage=101), 400, "invalid_rollout_percentage")
    assert_error(set_channel(api, rolloutPercentage=-1), 400, "invalid_rollout_percentage")


def test_basis_points_win_over_a_percentage_and_are_whole_0_to_10000(api: httpx.Client, stable: dict[str, Any]) -> None:
    assert set_channel(api, rolloutPercentage=50, rolloutPercentageBps=2500).status_code == 200
    assert channel(api)["rolloutPercentageBps"] == 2500
    body = assert_error(set_channel(api, rolloutPercentageBps=10001), 400, "invalid_rollout_config")
    assert body["moreInfo"]["field"] == "rolloutPercentageBps"
    assert_error(set_channel(api, rolloutPercentageBps=12.5), 400, "invalid_rollout_config")


def test_snake_case_aliases_are_accepted(api: httpx.Client, stable: dict[str, Any]) -> None:
    answer = set_channel(api, rollout_version="1.0.1", rollout_percentage_bps=700, rollout_enabled=True)
    assert answer.status_code == 200
    production = channel(api)
    assert production["rollout_version_info"]["name"] == "1.0.1"
    assert (production["rolloutPercentageBps"], production["rolloutEnabled"]) == (700, True)


def test_changing_the_target_starts_a_new_rollout_and_the_percentage_alone_does_not(
    api: httpx.Client, stable: dict[str, Any]
) -> None:
    set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=10)
    first = channel(api)["rollout_id"]
    set_channel(api, rolloutPercentage=50)  # raising the percentage keeps the cohort
    assert channel(api)["rollout_id"] == first
    set_channel(api, rolloutVersion="1.0.1")  # the same target again: no new cohort
    assert channel(api)["rollout_id"] == first
    set_channel(api, rolloutVersion="1.0.2")
    assert channel(api)["rollout_id"] != first


def test_pause_sets_the_time_and_reason_and_resume_clears_both(api: httpx.Client, stable: dict[str, Any]) -> None:
    set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=10)
    assert set_channel(api, rolloutPaused=True, rolloutPauseReason="crash spike").status_code == 200
    paused = channel(api)
    assert paused["rolloutPausedAt"] and paused["rolloutPauseReason"] == "crash spike"
    set_channel(api, rolloutPaused=False)
    resumed = channel(api)
    assert resumed["rolloutPausedAt"] is None and resumed["rolloutPauseReason"] is None


def test_promote_to_stable_makes_the_target_stable_and_ends_the_rollout(
    api: httpx.Client, stable: dict[str, Any]
) -> None:
    set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=30, rolloutEnabled=True)
    assert set_channel(api, promoteToStable=True).json() == {"status": "ok"}
    production = channel(api)
    assert production["version"]["name"] == "1.0.1"
    assert production["rollout_version"] is None
    assert (production["rolloutPercentageBps"], production["rolloutEnabled"]) == (0, False)


def test_promote_without_a_rollout_target_is_refused(api: httpx.Client, stable: dict[str, Any]) -> None:
    assert_error(set_channel(api, promote_to_stable=True), 400, "missing_rollout_version")


def test_rollback_drops_the_target_and_keeps_the_stable_bundle(api: httpx.Client, stable: dict[str, Any]) -> None:
    set_channel(api, rolloutVersion="1.0.1", rolloutPercentage=30, rolloutEnabled=True, rolloutPaused=True)
    assert set_channel(api, rollback=True).status_code == 200
    production = channel(api)
    assert production["version"]["name"] == "1.0.0" and production["rollout_version"] is None
    assert (production["rolloutPercentageBps"], production["rolloutEnabled"], production["rolloutPausedAt"]) == (
        0,
        False,
        None,
    )


def test_target_changes_need_an_existing_channel(api: httpx.Client, stable: dict[str, Any]) -> None:
    for action in ({"rolloutVersion": "1.0.1"}, {"rollback": True}, {"promoteToStable": True}):
        answer = api.post("/channel", json={"app_id": APP, "channel": "nightly", "version": "1.0.0", **action})
        assert_error(answer, 400, "cannot_find_channel")


def test_an_unknown_bundle_name_is_capgos_unknown_error(api: httpx.Client, stable: dict[str, Any]) -> None:
    # Capgo's findVersion rejects with a bare Error, which its onError answers as a 500.
    assert_error(set_channel(api, rolloutVersion="9.9.9"), 500, "unknown_error")
    assert_error(set_channel(api, version="9.9.9"), 500, "unknown_error")


def test_a_new_channel_created_with_a_version_answers_its_id(api: httpx.Client, stable: dict[str, Any]) -> None:
    created = api.post("/channel", json={"app_id": APP, "channel": "beta", "version": "1.0.1", "public": False})
    body = created.json()
    assert body["status"] == "ok" and body["public"] is False and isinstance(body["id"], int)
    assert channel(api, "beta")["version"]["name"] == "1.0.1"
    plain = api.post("/channel", json={"app_id": APP, "channel": "alpha"})
    assert plain.json() == {"status": "ok"}
    assert [row["name"] for row in api.get("/channel", params={"app_id": APP}).json()] == [
        "production",
        "beta",
        "alpha",
    ]


def test_other_rollout_settings_are_range_checked(api: httpx.Client, stable: dict[str, Any]) -> None:
    assert_error(set_channel(api, rolloutCacheTtlSeconds=10), 400, "invalid_rollout_config")
    assert_error(set_channel(api, autoPauseConfidence=1), 400, "invalid_auto_pause_confidence")
    assert_error(set_channel(api, autoPauseAction="explode"), 400, "invalid_auto_pause_action")
    assert set_channel(api, rolloutCacheTtlSeconds=3600, autoPauseAction="rollback").status_code == 200
    production = channel(api)
    assert (production["rolloutCacheTtlSeconds"], production["autoPauseAction"]) == (3600, "rollback")


def test_a_channel_is_deleted_by_name(api: httpx.Client) -> None:
    api.post("/channel", json={"app_id": APP, "channel": "beta"})
    assert api.request("DELETE", "/channel", json={"app_id": APP, "channel": "beta"}).json() == {"status": "ok"}
    assert_error(api.get("/channel", params={"app_id": APP, "channel": "beta"}), 400, "cannot_find_version")
    assert_error(
        api.request("DELETE", "/channel", params={"app_id": APP, "channel": "beta"}), 400, "cannot_find_channel"
    )


def test_devices_are_cursor_paged(api: httpx.Client, emulator: CapgoEmulator) -> None:
    emulator.state.devices.extend({"app_id": APP, "device_id": f"d{n}"} for n in range(3))
    first = api.get("/device", params={"app_id": APP, "limit": 2}).json()
    assert [d["device_id"] for d in first["data"]] == ["d0", "d1"] and first["hasMore"] is True
    rest = api.get("/device", params={"app_id": APP, "limit": 2, "cursor": first["nextCursor"]}).json()
    assert [d["device_id"] for d in rest["data"]] == ["d2"] and rest == {**rest, "hasMore": False, "nextCursor": None}


def private_channel(api: httpx.Client, name: str = "beta") -> None:
    assert api.post("/channel", json={"app_id": APP, "channel": name}).status_code == 200


def force(api: httpx.Client, **fields: Any) -> httpx.Response:
    return api.post("/device", json={"app_id": APP, "device_id": "dev-1", **fields})


def release(api: httpx.Client, **fields: Any) -> httpx.Response:
    return api.request("DELETE", "/device", json={"app_id": APP, "device_id": "dev-1", **fields})


def device(api: httpx.Client, device_id: str = "dev-1") -> dict[str, Any]:
    answer = api.get("/device", params={"app_id": APP, "device_id": device_id})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture
def known_device(emulator: CapgoEmulator) -> None:
    emulator.state.devices.append({"app_id": APP, "device_id": "dev-1"})


def test_an_unknown_device_is_a_404(api: httpx.Client) -> None:
    assert_error(api.get("/device", params={"app_id": APP, "device_id": "nope"}), 404, "device_not_found")


def test_a_device_is_forced_onto_a_private_channel_and_shown_with_it(api: httpx.Client, known_device: None) -> None:
    private_channel(api)
    assert "channel" not in device(api)
    assert force(api, channel="beta").json() == {"status": "ok"}
    assert device(api)["channel"] == "beta"
    assert device(api, "DEV-1")["channel"] == "beta"  # Capgo reads device ids lower-cased
    listed = api.get("/device", params={"app_id": APP}).json()["data"]
    assert [(d["device_id"], d["channel"]) for d in listed] == [("dev-1", "beta")]
    private_channel(api, "gamma")
    assert force(api, channel="gamma").status_code == 200  # one forced channel per device: replaced
    assert device(api)["channel"] == "gamma"


def test_forcing_needs_a_device_id_and_an_app_id(api: httpx.Client) -> None:
    answer = api.post("/device", json={"app_id": APP, "channel": "production"})
    assert_error(answer, 400, "missing_device_id_or_app_id")
    assert_error(api.post("/device", json={"device_id": "d"}), 400, "missing_device_id_or_app_id")
    assert_error(api.post("/device", json={"app_id": "nodots", "device_id": "d"}), 400, "invalid_app_id")


def test_forcing_a_bundle_onto_a_device_is_refused(api: httpx.Client) -> None:
    assert_error(force(api, version_id=1, channel="production"), 400, "invalid_version_id")


def test_forcing_an_unknown_channel_is_a_404(api: httpx.Client) -> None:
    assert_error(force(api, channel="nope"), 404, "channel_not_found")
    answer = api.post("/device", json={"app_id": "io.other.app", "device_id": "d", "channel": "production"})
    assert_error(answer, 404, "channel_not_found")  # another organisation's app: its channels are not visible


def test_a_public_channel_cannot_be_forced(api: httpx.Client) -> None:
    assert set_channel(api, public=True).status_code == 200
    assert_error(force(api, channel="production"), 400, "public_channel_override")


def test_forcing_without_a_channel_only_checks_access(api: httpx.Client, known_device: None) -> None:
    private_channel(api)
    force(api, channel="beta")
    assert force(api).json() == {"status": "ok"}
    assert device(api)["channel"] == "beta"  # unchanged: only DELETE /device ends an override
    answer = api.post("/device", json={"app_id": "io.other.app", "device_id": "d"})
    assert_error(answer, 400, "cannot_access_app")


def test_delete_device_ends_the_override_and_is_ok_without_one(api: httpx.Client, known_device: None) -> None:
    private_channel(api)
    force(api, channel="beta")
    assert release(api).json() == {"status": "ok"}
    assert "channel" not in device(api)
    assert release(api).json() == {"status": "ok"}
    assert api.request("DELETE", "/device", params={"app_id": APP, "device_id": "dev-1"}).status_code == 200


def test_delete_device_checks_its_fields_and_the_app(api: httpx.Client) -> None:
    assert_error(api.request("DELETE", "/device", json={"device_id": "d"}), 400, "missing_app_id")
    assert_error(api.request("DELETE", "/device", json={"app_id": APP}), 400, "missing_device_id")
    assert_error(release(api, app_id="nodots"), 400, "invalid_app_id")
    assert_error(release(api, app_id="io.other.app"), 400, "cannot_access_app")


def test_deleting_a_channel_releases_the_devices_forced_onto_it(api: httpx.Client, known_device: None) -> None:
    private_channel(api)
    force(api, channel="beta")
    api.request("DELETE", "/channel", json={"app_id": APP, "channel": "beta"})
    assert "channel" not in device(api)


# -- POST /bundle/metadata ----------------------------------------------------------------------------
def metadata(api: httpx.Client, **fields: Any) -> httpx.Response:
    return api.post("/bundle/metadata", json={"app_id": APP, **fields})


def test_bundle_metadata_sets_the_link_and_comment_given(api: httpx.Client) -> None:
    created = bundle(api, "1.0.0")
    assert metadata(api, version_id=created["id"], link="https://example.com/notes").json() == {"status": "ok"}
    assert metadata(api, version_id=created["id"], comment="hotfix").status_code == 200
    row = api.get("/bundle", params={"app_id": APP}).json()[0]
    assert (row["link"], row["comment"]) == ("https://example.com/notes", "hotfix")
    assert metadata(api, version_id=created["id"], link=None).status_code == 200  # null clears
    assert api.get("/bundle", params={"app_id": APP}).json()[0]["link"] is None


def test_bundle_metadata_reaches_a_deleted_bundle_too(api: httpx.Client) -> None:
    created = bundle(api, "1.0.0")
    api.request("DELETE", "/bundle", json={"app_id": APP, "version": "1.0.0"})
    assert metadata(api, version_id=created["id"], comment="gone").json() == {"status": "ok"}


def test_bundle_metadata_needs_an_app_id_and_a_version_id(api: httpx.Client) -> None:
    assert_error(metadata(api, comment="x"), 400, "missing_required_fields")
    assert_error(api.post("/bundle/metadata", json={"version_id": 1}), 400, "missing_required_fields")
    assert_error(metadata(api, app_id="nodots", version_id=1), 400, "invalid_app_id")


def test_bundle_metadata_of_another_organisations_app_is_refused(api: httpx.Client) -> None:
    answer = metadata(api, app_id="io.other.app", version_id=1, comment="x")
    assert_error(answer, 400, "cannot_update_bundle_metadata")


def test_bundle_metadata_of_an_unknown_bundle_is_cannot_find_version(api: httpx.Client) -> None:
    assert_error(metadata(api, version_id=999, comment="x"), 400, "cannot_find_version")
    assert_error(metadata(api, version_id="abc", comment="x"), 400, "cannot_find_version")


def test_bundle_metadata_without_a_field_to_update_is_refused(api: httpx.Client) -> None:
    created = bundle(api, "1.0.0")
    assert_error(metadata(api, version_id=created["id"]), 400, "no_fields_to_update")


# -- PUT and DELETE /app/:app_id ----------------------------------------------------------------------
def test_put_app_changes_the_given_settings_and_answers_the_app(api: httpx.Client) -> None:
    before = api.get(f"/app/{APP}").json()
    answer = api.put(f"/app/{APP}", json={"name": "Renamed", "retention": 86400, "expose_metadata": True})
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert (after["name"], after["retention"], after["expose_metadata"]) == ("Renamed", 86400, True)
    assert after["icon_url"] == before["icon_url"] and after["allow_preview"] == before["allow_preview"]
    assert api.get(f"/app/{APP}").json() == after


def test_put_app_normalizes_an_icon_path(api: httpx.Client) -> None:
    assert api.put(f"/app/{APP}", json={"icon": " images/org/x/icon "}).json()["icon_url"] == "org/x/icon"
    assert api.put(f"/app/{APP}", json={"icon": "https://cdn/i.png"}).json()["icon_url"] == "https://cdn/i.png"


def test_put_app_retention_is_under_two_years_and_not_negative(api: httpx.Client) -> None:
    assert_error(api.put(f"/app/{APP}", json={"retention": 63113904}), 400, "retention_to_big")
    assert_error(api.put(f"/app/{APP}", json={"retention": -1}), 400, "retention_to_small")
    assert api.put(f"/app/{APP}", json={"retention": 63113903}).status_code == 200


def test_put_app_values_of_the_wrong_type_are_cannot_update_app(api: httpx.Client) -> None:
    assert_error(api.put(f"/app/{APP}", json={"expose_metadata": "yes"}), 400, "cannot_update_app")
    assert_error(api.put(f"/app/{APP}", json={"icon": None}), 400, "cannot_update_app")  # icon_url is NOT NULL
    assert api.get(f"/app/{APP}").json()["expose_metadata"] is False


def test_put_app_of_an_unknown_app_is_a_401(api: httpx.Client) -> None:
    assert_error(api.put("/app/io.other.app", json={"name": "x"}), 401, "cannot_access_app")
    assert_error(api.put("/app/nodots", json={"name": "x"}), 400, "invalid_app_id")


def test_delete_app_of_an_unknown_app_is_refused(api: httpx.Client) -> None:
    assert_error(api.delete("/app/io.other.app"), 400, "cannot_delete_app")
    assert_error(api.delete("/app/nodots"), 400, "invalid_app_id")


def test_delete_app_removes_its_channels_bundles_and_devices(
    api: httpx.Client, emulator: CapgoEmulator, stable: dict[str, Any], known_device: None
) -> None:
    private_channel(api)
    force(api, channel="beta")
    assert api.delete(f"/app/{APP}").json() == {"status": "ok"}
    assert api.get("/app").json() == []
    assert_error(api.get(f"/app/{APP}"), 401, "cannot_access_app")
    state = emulator.state
    assert (state.channels, state.versions, state.devices, state.forced_channels) == ({}, {}, [], {})


def test_an_app_created_again_starts_empty_with_its_old_bundle_names_free(api: httpx.Client) -> None:
    bundle(api, "1.0.0")
    org = api.get(f"/app/{APP}").json()["owner_org"]
    api.delete(f"/app/{APP}")
    assert api.post("/app", json={"app_id": APP, "name": "Again", "owner_org": org}).status_code == 200
    assert api.get("/channel", params={"app_id": APP}).json() == []
    assert bundle(api, "1.0.0")["name"] == "1.0.0"  # Capgo hard-deletes an app's bundles with it


# -- the hosted upload's routes -----------------------------------------------------------------------
def test_an_uploaded_zip_is_kept_on_disk_and_downloadable_until_stop() -> None:
    emulator = CapgoEmulator(CapgoConfig(token=TOKEN)).start()
    base, state = emulator.base_url, emulator.state
    rest = {"apikey": state.anon_key, "capgkey": TOKEN, "prefer": "resolution=merge-duplicates"}
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("index.html", "<html></html>")
    data = zipped.getvalue()
    row = {
        "name": "1.0.0",
        "app_id": APP,
        "checksum": hashlib.sha256(data).hexdigest(),
        "storage_provider": "r2-direct",
    }
    assert httpx.post(f"{base}/rest/v1/app_versions?on_conflict=name,app_id", json=row, headers=rest).status_code == 201
    link = httpx.post(f"{base}/files/upload_link", json={"app_id": APP, "name": "1.0.0"}, headers={"capgkey": TOKEN})
    assert httpx.put(link.json()["url"], content=data).status_code == 200
    assert httpx.put(link.json()["url"], content=data).status_code == 403  # one use
    stored = state.version_named(APP, "1.0.0")
    assert stored is not None
    files = list(state.files.iterdir())
    assert [path.read_bytes() for path in files] == [data]
    assert httpx.get(state.bundle_url(stored)).content == data
    emulator.stop()
    assert not files[0].exists()


def test_postgrest_answers_one_object_when_asked_and_checks_its_keys(emulator: CapgoEmulator) -> None:
    base, anon = emulator.base_url, emulator.state.anon_key
    headers = {"apikey": anon, "capgkey": TOKEN, "accept": "application/vnd.pgrst.object+json"}
    url = f"{base}/rest/v1/channels?select=id,name,version(id,name)&name=eq.production&app_id=eq.{APP}"
    one = httpx.get(url, headers=headers)
    assert one.json() == {"id": 1, "name": "production", "version": None}
    none = httpx.get(url.replace("eq.production", "eq.nothing"), headers=headers)
    assert none.status_code == 406 and none.json()["code"] == "PGRST116"
    many = httpx.get(url, headers={**headers, "accept": "application/json"})
    assert many.json() == [{"id": 1, "name": "production", "version": None}]
    assert httpx.get(url, headers={**headers, "apikey": "wrong"}).status_code == 401
    assert httpx.get(url, headers={"apikey": anon}).status_code == 401
    config = httpx.get(f"{base}/private/config").json()
    assert config == {"supaHost": base, "supaKey": anon}
    rpc = httpx.post(
        f"{base}/rest/v1/rpc/exist_app_versions", json={"appid": APP, "name_version": "1.0.0"}, headers=headers
    )
    assert rpc.json() is False


# -- faults -------------------------------------------------------------------------------------------
def test_injected_faults_answer_in_capgos_shape_and_once(emulator: CapgoEmulator, api: httpx.Client) -> None:
    emulator.faults.add("GET /channel 503")
    failed = api.get("/channel", params={"app_id": APP})
    assert failed.status_code == 503 and failed.json()["error"] and failed.headers["x-request-id"]
    assert api.get("/channel", params={"app_id": APP}).status_code == 200


def test_a_post_whose_answer_is_lost_still_took_effect(emulator: CapgoEmulator, api: httpx.Client) -> None:
    emulator.faults.add("POST /bundle reset after")
    with pytest.raises(httpx.TransportError):
        api.post(
            "/bundle", json={"app_id": APP, "version": "1.0.0", "external_url": "https://x/1.zip", "checksum": "c"}
        )
    assert [row["name"] for row in api.get("/bundle", params={"app_id": APP}).json()] == ["1.0.0"]


def test_faults_come_from_the_environment() -> None:
    with start_capgo({"CAPGO_SANDBOX_FAULTS": "GET /app 429 retry-after=3", "CAPGO_SANDBOX_TOKEN": TOKEN}) as access:
        limited = httpx.get(f"{access.base_url}/app", headers={"authorization": TOKEN})
        assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
        assert limited.json()["error"] == "too_many_requests"


def test_sandbox_serve_prints_how_to_reach_it_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "capawesome_ci", "sandbox", "serve", "--provider", "capgo", "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CAPGO_SANDBOX_APP_ID": "io.acme.served"},
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = process.stdout.readline()
        while "listening on" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
        base = line.split("listening on ")[1].split()[0]
        answer = httpx.get(f"{base}/app/io.acme.served", headers={"authorization": TOKEN})
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0


def test_a_failed_upload_is_cleaned_up_and_its_name_freed(emulator: CapgoEmulator) -> None:
    base, state = emulator.base_url, emulator.state
    rest = {"apikey": state.anon_key, "capgkey": TOKEN, "prefer": "resolution=merge-duplicates"}
    row = {"name": "1.0.0", "app_id": APP, "checksum": "c", "storage_provider": "r2-direct"}
    httpx.post(f"{base}/rest/v1/app_versions?on_conflict=name,app_id", json=row, headers=rest)
    clean_up = {"app_id": APP, "name": "1.0.0"}
    answer = httpx.request("DELETE", f"{base}/private/delete_failed_version", json=clean_up, headers={"capgkey": TOKEN})
    assert answer.json() == {"status": "ok"}
    assert state.version_named(APP, "1.0.0", deleted=None) is None
    again = httpx.request("DELETE", f"{base}/private/delete_failed_version", json=clean_up, headers={"capgkey": TOKEN})
    assert_error(again, 400, "error_already_deleted")
    bad = httpx.post(f"{base}/rest/v1/rpc/is_paying_org", content=b"{", headers=rest)
    assert bad.status_code == 400 and bad.json()["code"] == "PGRST102"


def test_build_paths_are_authenticated_then_handed_to_capgo_build(api: httpx.Client, emulator: CapgoEmulator) -> None:
    body = {"app_id": APP, "platform": "android"}
    assert_error(httpx.post(f"{emulator.base_url}/build/request", json=body), 401, "no_key_provided")
    requested = api.post("/build/request", json=body)
    assert requested.status_code == 200, requested.text
    assert requested.json()["job_id"] and requested.headers["x-request-id"]

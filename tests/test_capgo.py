"""Capgo's adapter against respx: the raw key, Capgo's error codes, the bundle list's 400 at its end,
percentages as basis points, the hosted upload's sequence and bodies, POSTs never retried, and the
v2 encryption undone the way the updater plugin does it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from capawesome_ci.cloud.capgo import CapgoPlatform, connect
from capawesome_ci.cloud.capgo_upload import FileBody, files_origin
from capawesome_ci.errors import AmbiguousMutationError, ApiError, AuthError, ExitCode, InputError, NotFoundError
from capawesome_ci.platform import to_bps
from capawesome_ci.providers import Connection
from capawesome_ci.steps.capgo.common import CapgoOperations
from capawesome_ci.steps.capgo.crypto import encrypt_bundle, key_id, load_key

API = "https://api.capgo.test"
SUPA = "https://supa.capgo.test"
STORAGE = "https://r2.storage.test/upload/bundle.zip?sig=abc"
KEY = "capgo_key_0123456789abcdef"
APP = "com.example.app"


@pytest.fixture
def platform() -> Iterator[CapgoPlatform]:
    with connect(Connection(base_url=API, token=KEY, app_id=APP)) as adapter:
        yield adapter


def _error(status: int, code: str, message: str = "msg") -> httpx.Response:
    return httpx.Response(status, json={"error": code, "message": message, "moreInfo": {}})


def _channel(**extra: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "name": "production",
        "version": {"id": 1, "name": "1.0.0"},
        "rollout_version": None,
        "rollout_version_info": None,
        "rolloutPercentageBps": 0,
        "rolloutEnabled": False,
        "rolloutPausedAt": None,
        **extra,
    }


# -- the API ----------------------------------------------------------------------------------------
def test_the_adapter_is_what_the_capgo_steps_need(platform: CapgoPlatform) -> None:
    assert isinstance(platform, CapgoOperations)


@respx.mock
def test_the_key_goes_raw_in_authorization(platform: CapgoPlatform) -> None:
    route = respx.get(f"{API}/channel/").respond(200, json=_channel())
    state = platform.channel_state("production")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == KEY  # no Bearer
    assert sent.url.params["app_id"] == APP and sent.url.params["channel"] == "production"
    assert state is not None and state.stable == "1.0.0" and state.id == "7" and not state.rollout_active


@respx.mock
@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (_error(401, "invalid_apikey"), AuthError, ExitCode.AUTH),
        (_error(400, "cannot_access_app"), AuthError, ExitCode.AUTH),
        (_error(400, "cannot_find_app"), NotFoundError, ExitCode.NOT_FOUND),
        (_error(400, "version_already_exists"), InputError, ExitCode.USAGE),
        (_error(400, "missing_stable_version"), InputError, ExitCode.USAGE),
        (_error(400, "some_new_code", "Something new"), ApiError, ExitCode.USAGE),
    ],
)
def test_capgo_error_codes_map_to_our_errors(
    platform: CapgoPlatform, answer: httpx.Response, error: type[Exception], code: ExitCode
) -> None:
    respx.post(f"{API}/channel/").mock(return_value=answer)
    with pytest.raises(error) as raised:
        platform.set_stable("production", "1.4.2")
    assert raised.value.exit_code == code  # type: ignore[attr-defined]
    body = answer.json()
    assert body["error"] in str(raised.value)


@respx.mock
def test_an_app_capgo_will_not_show_says_to_check_the_app_id(platform: CapgoPlatform) -> None:
    """Capgo answers `cannot_access_app` for an app id that does not exist as for one the key may not see."""
    respx.get(f"{API}/channel/").mock(return_value=_error(400, "cannot_access_app", "You can't access this app"))
    with pytest.raises(AuthError, match="check the app id"):
        platform.channel_state("production")


@respx.mock
def test_a_missing_channel_is_none(platform: CapgoPlatform) -> None:
    respx.get(f"{API}/channel/").mock(return_value=_error(400, "cannot_find_version", "Cannot find version"))
    assert platform.channel_state("nope") is None
    assert platform.find_channel("nope") is None


@respx.mock
def test_the_400_past_the_last_bundle_page_ends_the_list(platform: CapgoPlatform) -> None:
    full = [{"id": 100 - i, "name": f"1.0.{100 - i}", "checksum": "ab"} for i in range(50)]

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json=full) if page == 0 else _error(400, "cannot_get_bundle", "Cannot get bundle")

    route = respx.get(f"{API}/bundle/").mock(side_effect=answer)
    assert platform.find_bundle("9.9.9") is None
    assert [call.request.url.params["page"] for call in route.calls] == ["0", "1"]
    found = platform.find_bundle("1.0.60")
    assert found is not None and found.id == "60"


@respx.mock
def test_a_short_page_is_the_last(platform: CapgoPlatform) -> None:
    route = respx.get(f"{API}/bundle/").respond(200, json=[{"id": 1, "name": "1.0.0"}])
    assert platform.find_bundle("2.0.0") is None
    assert route.call_count == 1


@respx.mock
def test_no_permission_to_read_bundles_is_not_an_empty_list(platform: CapgoPlatform) -> None:
    respx.get(f"{API}/bundle/").mock(return_value=_error(400, "cannot_get_bundle", "You can't access this app"))
    with pytest.raises(AuthError):
        platform.find_bundle("1.0.0")


@respx.mock
def test_percentages_travel_as_basis_points(platform: CapgoPlatform) -> None:
    route = respx.post(f"{API}/channel/").respond(200, json={"status": "ok"})
    platform.start_rollout("production", "1.4.2", 12.5)
    platform.set_rollout_percentage("production", 50)
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies == [
        {
            "app_id": APP,
            "channel": "production",
            "rolloutVersion": "1.4.2",
            "rolloutPercentageBps": 1250,
            "rolloutEnabled": True,
        },
        {"app_id": APP, "channel": "production", "rolloutPercentageBps": 5000, "rolloutEnabled": True},
    ]
    assert to_bps(12.345) == 1235 and to_bps(100) == 10_000 and to_bps(0) == 0
    assert to_bps(99.995) == 9999 and to_bps(0.001) == 1  # a share between stays between


@respx.mock
def test_a_rollout_reads_back_as_a_percentage(platform: CapgoPlatform) -> None:
    respx.get(f"{API}/channel/").respond(
        200,
        json=_channel(
            rollout_version=2,
            rollout_version_info={"id": 2, "name": "1.1.0"},
            rolloutPercentageBps=2500,
            rolloutEnabled=True,
            rolloutPausedAt="2026-11-01T00:00:00Z",
        ),
    )
    channel = platform.find_channel("production")
    assert channel is not None and channel.active_deployment is not None
    assert channel.active_deployment.rollout_percentage == 25.0
    assert channel.active_deployment.build_id == "1.1.0"
    state = platform.channel_state("production")
    assert state is not None and state.rollout_paused and state.rollout_active


@respx.mock
@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_post_is_never_retried_on_5xx(platform: CapgoPlatform, status: int) -> None:
    route = respx.post(f"{API}/channel/").respond(status, json={"error": "internal", "message": "boom"})
    with pytest.raises(AmbiguousMutationError):
        platform.promote_rollout("production")
    assert route.call_count == 1


@respx.mock
def test_register_bundle_posts_the_documented_body(platform: CapgoPlatform) -> None:
    route = respx.post(f"{API}/bundle/").respond(200, json={"status": "success", "bundle": {"id": 42, "name": "1.4.2"}})
    bundle = platform.register_bundle(
        "1.4.2", "https://cdn.example.com/b.zip", "ab" * 32, "iv:key", "MIIBCgKCAQEAabcdefgh"
    )
    assert json.loads(route.calls.last.request.content) == {
        "app_id": APP,
        "version": "1.4.2",
        "external_url": "https://cdn.example.com/b.zip",
        "checksum": "ab" * 32,
        "session_key": "iv:key",
        "key_id": "MIIBCgKCAQEAabcdefgh",
    }
    assert bundle.id == "42"


# -- the hosted upload ------------------------------------------------------------------------------
def _mock_upload(exists: bool = False, put_status: int = 200, finalize: bool = False) -> list[str]:
    """Every route of the sequence; returns the log of requests in order."""
    log: list[str] = []

    def record(answer: Any) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            log.append(f"{request.method} {request.url.host}{request.url.path}")
            return answer(request) if callable(answer) else answer

        return handler

    config = {"supaHost": SUPA, "supaKey": "anon-key", "useNewFinalizeBundleUpload": finalize}
    respx.get(f"{API}/private/config").mock(side_effect=record(httpx.Response(200, json=config)))
    respx.get(f"{API}/app/{APP}").mock(
        side_effect=record(httpx.Response(200, json={"app_id": APP, "owner_org": "org-1"}))
    )
    respx.post(f"{SUPA}/rest/v1/rpc/request_actor_user_id").mock(side_effect=record(httpx.Response(200, json="user-1")))
    respx.post(f"{SUPA}/rest/v1/rpc/exist_app_versions").mock(side_effect=record(httpx.Response(200, json=exists)))
    respx.post(f"{SUPA}/rest/v1/app_versions").mock(side_effect=record(httpx.Response(201)))
    respx.post(f"{API}/files/upload_link").mock(side_effect=record(httpx.Response(200, json={"url": STORAGE})))
    respx.put(STORAGE).mock(side_effect=record(httpx.Response(put_status)))
    respx.post(f"{API}/private/finalize_bundle_upload").mock(side_effect=record(httpx.Response(200, json={})))
    respx.delete(f"{API}/private/delete_failed_version").mock(side_effect=record(httpx.Response(200, json={})))
    respx.post(f"{SUPA}/rest/v1/rpc/get_app_versions").mock(side_effect=record(httpx.Response(200, json=42)))
    return log


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK" + bytes(range(256)) * 9000)  # a few chunks' worth
    return path


@respx.mock
def test_the_hosted_upload_follows_the_cli_sequence(platform: CapgoPlatform, archive: Path) -> None:
    log = _mock_upload()
    progress: list[tuple[int, int]] = []
    bundle = platform.upload_bundle(
        "1.4.2", archive, "cd" * 32, progress=lambda done, total: progress.append((done, total))
    )
    assert bundle.id == "42"
    assert log == [
        "GET api.capgo.test/private/config",
        "GET api.capgo.test/app/com.example.app",
        "POST supa.capgo.test/rest/v1/rpc/request_actor_user_id",
        "POST supa.capgo.test/rest/v1/rpc/exist_app_versions",
        "POST supa.capgo.test/rest/v1/app_versions",
        "POST api.capgo.test/files/upload_link",
        "PUT r2.storage.test/upload/bundle.zip",
        "POST supa.capgo.test/rest/v1/app_versions",
        "POST supa.capgo.test/rest/v1/rpc/get_app_versions",
    ]
    calls = {f"{c.request.method} {c.request.url.path}": c.request for c in respx.calls}
    exist = calls["POST /rest/v1/rpc/exist_app_versions"]
    assert json.loads(exist.content) == {"appid": APP, "name_version": "1.4.2"}
    assert exist.headers["apikey"] == "anon-key" and exist.headers["capgkey"] == KEY
    assert exist.headers["authorization"] == "Bearer anon-key"
    upserts = [c.request for c in respx.calls if c.request.url.path == "/rest/v1/app_versions"]
    first, second = (json.loads(r.content) for r in upserts)
    assert first == {
        "name": "1.4.2",
        "app_id": APP,
        "storage_provider": "r2-direct",
        "owner_org": "org-1",
        "user_id": "user-1",
        "checksum": "cd" * 32,
        "link": None,
        "comment": None,
    }
    assert second == {**first, "storage_provider": "r2", "manifest": None}
    assert upserts[0].url.params["on_conflict"] == "name,app_id"
    assert upserts[0].headers["prefer"] == "resolution=merge-duplicates"
    link = calls["POST /files/upload_link"]
    assert json.loads(link.content) == {"app_id": APP, "name": "1.4.2", "version": 0}
    put = calls["PUT /upload/bundle.zip"]
    assert "authorization" not in put.headers and "capgkey" not in put.headers  # storage never gets the key
    assert put.headers["content-length"] == str(archive.stat().st_size)
    assert put.headers["content-type"] == "application/zip"
    assert progress[-1] == (archive.stat().st_size, archive.stat().st_size)
    got = calls["POST /rest/v1/rpc/get_app_versions"]
    assert json.loads(got.content) == {"apikey": KEY, "name_version": "1.4.2", "appid": APP}


@respx.mock
def test_the_new_finalize_route_when_the_config_says_so(platform: CapgoPlatform, archive: Path) -> None:
    log = _mock_upload(finalize=True)
    platform.upload_bundle("1.4.2", archive, "cd" * 32, session_key="iv:wrapped", key_id="MIIBCgKCAQEA12345678")
    assert "POST api.capgo.test/private/finalize_bundle_upload" in log
    assert log.count("POST supa.capgo.test/rest/v1/app_versions") == 1
    row = json.loads(next(c.request for c in respx.calls if c.request.url.path == "/rest/v1/app_versions").content)
    assert row["session_key"] == "iv:wrapped" and row["key_id"] == "MIIBCgKCAQEA12345678"


@respx.mock
def test_a_taken_name_stops_before_any_write(platform: CapgoPlatform, archive: Path) -> None:
    log = _mock_upload(exists=True)
    with pytest.raises(InputError, match="already exists"):
        platform.upload_bundle("1.4.2", archive, "cd" * 32)
    assert not any(line.endswith("/rest/v1/app_versions") or line.startswith("PUT") for line in log)


@respx.mock
def test_a_failed_put_deletes_the_half_created_bundle(platform: CapgoPlatform, archive: Path) -> None:
    log = _mock_upload(put_status=403)
    with pytest.raises(AuthError) as raised:
        platform.upload_bundle("1.4.2", archive, "cd" * 32)
    assert "the half-created bundle 1.4.2 was deleted" in raised.value.message
    assert log[-1] == "DELETE api.capgo.test/private/delete_failed_version"


@pytest.mark.parametrize("taken", [False, True])
@respx.mock
def test_a_dry_run_plans_the_upload_without_sending_it(archive: Path, taken: bool) -> None:
    """It reads only: the config and Capgo's existence check, which sees deleted bundles' names."""
    planned: list[tuple[str, str, Any]] = []
    connection = Connection(base_url=API, token=KEY, app_id=APP, dry_run_recorder=lambda *a: planned.append(a))
    log = _mock_upload(exists=taken)
    with connect(connection) as adapter:
        if taken:
            with pytest.raises(InputError, match="even a deleted one's"):
                adapter.upload_bundle("1.4.2", archive, "cd" * 32)
        else:
            assert adapter.upload_bundle("1.4.2", archive, "cd" * 32).id == "<planned>"
    assert log == ["GET api.capgo.test/private/config", "POST supa.capgo.test/rest/v1/rpc/exist_app_versions"]
    assert planned == (
        []
        if taken
        else [("PUT", "<Capgo upload link>", {"name": "1.4.2", "size": archive.stat().st_size, "checksum": "cd" * 32})]
    )


def test_the_files_host() -> None:
    assert files_origin("https://api.capgo.app", None) == "https://files.capgo.app"
    assert files_origin("http://127.0.0.1:8123/", None) == "http://127.0.0.1:8123"
    assert files_origin("https://api.capgo.app", "https://files.example.test/") == "https://files.example.test"


def test_the_upload_body_is_streamed_in_bounded_chunks(archive: Path) -> None:
    body = FileBody(archive, archive.stat().st_size, None)
    chunks = list(body)
    assert max(len(chunk) for chunk in chunks) <= 1 << 20
    assert b"".join(chunks) == archive.read_bytes()
    assert b"".join(body) == archive.read_bytes()  # iterable again: a retried PUT sends it whole


# -- encryption ---------------------------------------------------------------------------------------
def _public_decrypt(public: rsa.RSAPublicKey, data: bytes) -> bytes:
    """Node's publicDecrypt with PKCS#1 v1.5 padding: what the updater plugin does."""
    numbers = public.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    block = pow(int.from_bytes(data, "big"), numbers.e, numbers.n).to_bytes(size, "big")
    assert block[:2] == b"\x00\x01"
    separator = block.index(b"\x00", 2)
    assert set(block[2:separator]) == {0xFF}
    return block[separator + 1 :]


def test_encryption_round_trip_as_the_updater_plugin_decrypts(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")  # what `capgo key create` writes
    key = load_key(pem, "the key")
    source, target = tmp_path / "bundle.zip", tmp_path / "bundle.enc"
    plain = b"PK\x03\x04" + b"web build " * 300_000
    source.write_bytes(plain)
    checksum = hashlib.sha256(plain).hexdigest()
    encrypted = encrypt_bundle(key, source, target, checksum)

    iv_b64, wrapped_b64 = encrypted.session_key.split(":")
    session = _public_decrypt(private.public_key(), base64.b64decode(wrapped_b64))
    assert len(session) == 16
    decryptor = Cipher(algorithms.AES(session), modes.CBC(base64.b64decode(iv_b64))).decryptor()
    unpadder = sym_padding.PKCS7(128).unpadder()
    decrypted = unpadder.update(decryptor.update(target.read_bytes()) + decryptor.finalize()) + unpadder.finalize()
    assert decrypted == plain
    # V3 checksum: hex in, hex out; the plugin decrypts it and compares with the zip's SHA-256.
    assert _public_decrypt(private.public_key(), bytes.fromhex(encrypted.checksum)).hex() == checksum
    public_pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.PKCS1).decode()
    body = "".join(public_pem.splitlines()[1:-1])
    assert encrypted.key_id == key_id(key) == body[:20] and encrypted.key_id.startswith("MIIBCgKCAQEA")


def test_an_unusable_key_is_a_usage_error_that_does_not_quote_it() -> None:
    secret = "-----BEGIN RSA PRIVATE KEY-----\nnotakeyatallbutsecret\n-----END RSA PRIVATE KEY-----"
    with pytest.raises(InputError) as raised:
        load_key(secret, "$CAPGO_KEY_DATA_V2")
    assert "notakeyatallbutsecret" not in str(raised.value)

"""Live-update bundles in the sandbox (api reference §5.6 and §6): inline and multipart uploads come back
byte-exact from the artifact download, checksums, signatures, parts and etags are enforced like the real
API would, finalize deploys at the bundle's rollout, and a large upload is assembled on disk, not in memory."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from tests.conftest import pem_of, sandbox_client

MiB = 1 << 20
PART = 10 * MiB  # the official CLI's part size and inline threshold
FAST = SandboxConfig(queue_seconds=0.05, run_seconds=0.3, log_lines=10)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(dataclasses.replace(FAST)) as running:
        yield running


@pytest.fixture
def signed_sb(rsa_key: rsa.RSAPrivateKey) -> Iterator[Sandbox]:
    with Sandbox(dataclasses.replace(FAST, public_key_pem=pem_of(rsa_key, private=False))) as running:
        yield running


@pytest.fixture
def http(sb: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(sb, timeout=60) as client:
        yield client


@pytest.fixture
def app(sb: Sandbox) -> str:
    return f"/v1/apps/{sb.app_id}"


# -- the protocol, the way the official CLI speaks it ------------------------------------------------
def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(key: rsa.RSAPrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def file_form(data: bytes, inline: bool, **fields: str | None) -> list[tuple[str, Any]]:
    """The multipart fields of `POST …/files`, in the CLI's order; the bytes only when `inline`."""
    values = {
        "checksum": sha256(data), "href": None, "mimeType": "application/zip", "name": "bundle.zip",
        "signature": None, "sizeInBytes": str(len(data)),
    } | fields  # fmt: skip
    form: list[tuple[str, Any]] = [(name, (None, value)) for name, value in values.items() if value is not None]
    if inline:
        form.insert(1, ("file", (values["name"] or "file", data, "application/octet-stream")))
    return form


def new_bundle(http: httpx.Client, app: str, **body: Any) -> dict[str, Any]:
    response = http.post(f"{app}/bundles", json={"artifactType": "zip", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def add_file(
    http: httpx.Client, app: str, bundle_id: str, data: bytes, inline: bool | None = None, **fields: str | None
) -> str:
    """`POST …/files`: the bytes go along below 10 MiB unless `inline` says otherwise."""
    inline = len(data) < PART if inline is None else inline
    response = http.post(f"{app}/bundles/{bundle_id}/files", files=file_form(data, inline, **fields))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def put_part(http: httpx.Client, upload_url: str, upload_id: str, number: int, blob: bytes) -> httpx.Response:
    """`mpu-uploadpart` with a hand-written form, streamed: an httpx response references itself (its
    stream holds it), so a body its request kept would outlive it until the cycle collector runs,
    while a drained iterator holds nothing."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="partNumber"\r\n\r\n{number}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="blob"; filename="blob"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + len(blob) + len(tail)),  # no chunked encoding
    }
    params = {"action": "mpu-uploadpart", "uploadId": upload_id}
    return http.put(upload_url, params=params, content=iter((head, blob, tail)), headers=headers)


def start_upload(http: httpx.Client, upload_url: str) -> str:
    return str(http.post(upload_url, params={"action": "mpu-create"}, json={}).json()["uploadId"])


def complete(http: httpx.Client, upload_url: str, upload_id: str, parts: list[dict[str, Any]]) -> httpx.Response:
    return http.post(upload_url, params={"action": "mpu-complete", "uploadId": upload_id}, json={"parts": parts})


def upload_parts(http: httpx.Client, upload_url: str, blobs: Iterable[bytes]) -> httpx.Response:
    upload_id = start_upload(http, upload_url)
    parts = []
    for number, blob in enumerate(blobs, 1):
        answer = put_part(http, upload_url, upload_id, number, blob)
        assert answer.status_code == 200, answer.text
        parts.append(answer.json())
    return complete(http, upload_url, upload_id, parts)


def split(data: bytes, size: int = PART) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def finalize(http: httpx.Client, app: str, bundle_id: str, file_id: str | None = None) -> httpx.Response:
    return http.patch(f"{app}/bundles/{bundle_id}", json={"artifactStatus": "ready", "appBundleFileId": file_id})


def upload_zip(http: httpx.Client, app: str, data: bytes, signature: str | None = None, **body: Any) -> dict[str, Any]:
    """Create, add `bundle.zip` (inline below 10 MiB, else in 10 MiB parts), finalize."""
    bundle = new_bundle(http, app, **body)
    file_id = add_file(http, app, bundle["id"], data, signature=signature)
    if len(data) >= PART:
        answer = upload_parts(http, f"{app}/bundles/{bundle['id']}/files/{file_id}/upload", split(data))
        assert (answer.status_code, answer.json()) == (200, {}), answer.text
    finalized = finalize(http, app, bundle["id"], file_id)
    assert finalized.status_code == 200, finalized.text
    result: dict[str, Any] = finalized.json()
    return result


def artifact_url(app: str, bundle: dict[str, Any]) -> str:
    return f"{app}/builds/{bundle['appBuildId']}/artifacts/{bundle['id']}"


def error(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


def issue_paths(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 400, response.text
    return [issue["path"] for issue in response.json()["error"]["issues"]]


# -- zip bundles -----------------------------------------------------------------------------------
def test_inline_zip_bundle_round_trip(sb: Sandbox, http: httpx.Client, app: str) -> None:
    data = payload(300_000)
    bundle = new_bundle(http, app, gitRef="main", customProperties={"team": "web"}, minAndroidAppVersionCode="10")
    assert set(bundle) == {"id", "appBuildId", "appDeploymentId"} and bundle["appDeploymentId"] is None
    build = http.get(f"{app}/builds/{bundle['appBuildId']}", params={"relations": "job"}).json()
    assert (build["platform"], build["numberAsString"], build["gitRef"], build["job"]["status"]) == (
        "web", "1", "main", "succeeded",
    )  # fmt: skip
    pending = http.get(f"{app}/builds/{bundle['appBuildId']}/artifacts").json()
    assert [(a["id"], a["type"], a["status"], a["totalSizeInBytes"]) for a in pending] == [
        (bundle["id"], "zip", "pending", None)
    ]
    assert error(http.get(artifact_url(app, bundle) + "/download")) == (
        404,
        {"message": "App build artifact has no file."},
    )
    file_id = add_file(http, app, bundle["id"], data)
    finalized = finalize(http, app, bundle["id"], file_id)
    assert finalized.json() == {"id": bundle["id"], "appBuildId": bundle["appBuildId"], "appDeploymentId": None}
    artifact = http.get(f"{app}/builds/{bundle['appBuildId']}/artifacts").json()  # still one: nothing generated
    assert [(a["status"], a["fileName"], a["totalSizeInBytes"]) for a in artifact] == [("ready", "bundle.zip", 300_000)]
    download = http.get(artifact_url(app, bundle) + "/download")
    assert download.content == data and download.headers["Content-Disposition"] == 'attachment; filename="bundle.zip"'
    ranged = http.get(artifact_url(app, bundle) + "/download", headers={"Range": "bytes=1000-1999"})
    assert (ranged.status_code, ranged.content) == (206, data[1000:2000])
    signed = http.get(artifact_url(app, bundle) + "/signed-download-url").json()
    assert httpx.get(signed["url"]).content == data
    assert http.get(f"{app}/builds/{bundle['appBuildId']}/artifacts").json()[0]["totalDownloads"] == 3
    assert error(finalize(http, app, bundle["id"], file_id)) == (400, {"message": "App bundle is already ready."})
    bundle_path = f"{app}/bundles/{bundle['id']}"
    assert [(r.method, r.path, r.status) for r in sb.state.mutations()] == [
        ("POST", f"{app}/bundles", 201),
        ("POST", f"{bundle_path}/files", 201),
        ("PATCH", bundle_path, 200),
        ("PATCH", bundle_path, 400),
    ]


@pytest.mark.parametrize("size", [PART - 1, PART, PART + 1, 35 * MiB])
def test_sizes_around_the_multipart_threshold_round_trip(sb: Sandbox, http: httpx.Client, app: str, size: int) -> None:
    data = payload(size, seed=size)
    bundle = upload_zip(http, app, data)
    download = http.get(artifact_url(app, bundle) + "/download")
    assert download.headers["Content-Length"] == str(size) and download.content == data
    parts = [r for r in sb.state.requests if r.method == "PUT"]
    assert len(parts) == (0 if size < PART else -(-size // PART))


def test_inline_file_of_10_mib_is_refused(http: httpx.Client, app: str) -> None:
    bundle = new_bundle(http, app)
    data = payload(PART)
    response = http.post(f"{app}/bundles/{bundle['id']}/files", files=file_form(data, inline=True))
    assert issue_paths(response) == [["file"]]


def test_parts_out_of_order_and_uploaded_again(http: httpx.Client, app: str) -> None:
    data = payload(11 * MiB, seed=7)
    blobs = list(split(data, 5 * MiB))  # 5, 5 and 1 MiB: the minimum part size
    bundle = new_bundle(http, app)
    file_id = add_file(http, app, bundle["id"], data)
    upload_url = f"{app}/bundles/{bundle['id']}/files/{file_id}/upload"
    upload_id = start_upload(http, upload_url)
    first_try = put_part(http, upload_url, upload_id, 2, payload(5 * MiB, seed=99)).json()
    answers = {number: put_part(http, upload_url, upload_id, number, blobs[number - 1]).json() for number in (3, 1, 2)}
    assert answers[2]["etag"] != first_try["etag"]  # the second upload of part 2 replaced the first
    assert answers[1] == {"etag": f'"{hashlib.md5(blobs[0]).hexdigest()}"', "partNumber": 1}
    stale = [answers[1], first_try, answers[3]]
    assert error(complete(http, upload_url, upload_id, stale)) == (
        400,
        {"message": "Part 2 does not match its etag."},
    )
    parts = [answers[number] for number in (1, 2, 3)]
    assert complete(http, upload_url, upload_id, parts).json() == {}
    bundle = finalize(http, app, bundle["id"], file_id).json()
    assert http.get(artifact_url(app, bundle) + "/download").content == data


def test_upload_errors(sb: Sandbox, http: httpx.Client, app: str) -> None:
    bundle = new_bundle(http, app)
    files_url = f"{app}/bundles/{bundle['id']}/files"
    data = payload(1000)
    mismatch = {"message": "Checksum mismatch."}
    assert error(http.post(files_url, files=file_form(data, True, checksum=sha256(b"other")))) == (400, mismatch)
    assert error(http.post(files_url, files=file_form(data, True, sizeInBytes="999"))) == (400, mismatch)
    for missing in ("checksum", "name", "sizeInBytes"):
        assert issue_paths(http.post(files_url, files=file_form(data, True, **{missing: None}))) == [[missing]]
    assert issue_paths(http.post(files_url, files=file_form(data, True, checksum="abc"))) == [["checksum"]]
    assert issue_paths(http.post(files_url, files=file_form(data, True, sizeInBytes="ten"))) == [["sizeInBytes"]]
    assert http.post(files_url, json={"checksum": sha256(data)}).json() == {
        "message": "Expected a multipart/form-data body."
    }
    assert error(http.post(f"{app}/bundles/nope/files", files=file_form(data, True))) == (
        404,
        {"message": "App bundle not found."},
    )

    big = payload(11 * MiB, seed=3)
    file_id = add_file(http, app, bundle["id"], big)
    assert error(finalize(http, app, bundle["id"], file_id)) == (
        400,
        {"message": "App bundle file bundle.zip has not been uploaded."},
    )
    assert error(finalize(http, app, bundle["id"], "nope")) == (404, {"message": "App bundle file not found."})
    assert issue_paths(finalize(http, app, bundle["id"])) == [["appBundleFileId"]]
    assert issue_paths(http.patch(f"{app}/bundles/{bundle['id']}", json={"artifactStatus": "pending"})) == [
        ["artifactStatus"]
    ]
    upload_url = f"{files_url}/{file_id}/upload"
    small_upload = start_upload(http, upload_url)
    small = [put_part(http, upload_url, small_upload, n, blob).json() for n, blob in enumerate(split(big, 4 * MiB), 1)]
    assert error(complete(http, upload_url, small_upload, small)) == (
        400,
        {"message": "Part 1 is smaller than 5 MiB; only the last part may be."},
    )
    upload_id = start_upload(http, upload_url)
    first = put_part(http, upload_url, upload_id, 1, big[:PART]).json()
    assert error(complete(http, upload_url, upload_id, [first, {"etag": first["etag"], "partNumber": 2}])) == (
        400,
        {"message": "Part 2 has not been uploaded."},
    )
    parts = [first, put_part(http, upload_url, upload_id, 2, big[PART:]).json()]
    order = {"message": "Parts must be sorted by partNumber and numbered from 1 without gaps."}
    assert error(complete(http, upload_url, upload_id, parts[::-1])) == (400, order)
    assert error(complete(http, upload_url, upload_id, parts[1:])) == (400, order)
    assert error(complete(http, upload_url, upload_id, [parts[0], {**parts[1], "etag": '"bad"'}])) == (
        400,
        {"message": "Part 2 does not match its etag."},
    )
    assert issue_paths(complete(http, upload_url, upload_id, [{"partNumber": "1"}])) == [["parts", 0]]
    assert issue_paths(http.post(upload_url, params={"action": "mpu-complete", "uploadId": upload_id})) == [["parts"]]
    assert issue_paths(put_part(http, upload_url, upload_id, 0, b"x")) == [["partNumber"]]
    assert issue_paths(http.post(upload_url, params={"action": "mpu-explode"}, json={})) == [["action"]]
    assert error(put_part(http, upload_url, "nope", 1, b"x")) == (404, {"message": "Multipart upload not found."})
    # The wrong bytes in part 1: every etag matches, the assembled file does not.
    wrong = put_part(http, upload_url, upload_id, 1, payload(PART, seed=4)).json()
    assert error(complete(http, upload_url, upload_id, [wrong, parts[1]])) == (400, mismatch)
    fixed = put_part(http, upload_url, upload_id, 1, big[:PART]).json()
    assert complete(http, upload_url, upload_id, [fixed, parts[1]]).json() == {}
    assert error(http.post(upload_url, params={"action": "mpu-create"}, json={})) == (
        400,
        {"message": "App bundle file is already uploaded."},
    )
    assert [path.name for path in sb.state.storage().iterdir()] == [file_id]  # the parts of both uploads are gone
    assert finalize(http, app, bundle["id"], file_id).status_code == 200


# -- signatures ------------------------------------------------------------------------------------
def test_signatures_are_required_with_a_public_key(
    signed_sb: Sandbox, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    app = f"/v1/apps/{signed_sb.app_id}"
    data, invalid_signature = payload(50_000), (400, {"message": "Invalid signature."})
    with sandbox_client(signed_sb, timeout=60) as http:
        files_url = f"{app}/bundles/{new_bundle(http, app)['id']}/files"
        for signature in (None, "", "not base64!", sign(rsa_key, b"other bytes"), sign(other_rsa_key, data)):
            assert error(http.post(files_url, files=file_form(data, True, signature=signature))) == invalid_signature
        assert http.post(files_url, files=file_form(data, True, signature=sign(rsa_key, data))).status_code == 201

        big = payload(PART + 5, seed=5)  # in parts: checked on mpu-complete, against the streamed digest
        bundle = new_bundle(http, app)
        wrong = add_file(http, app, bundle["id"], big, signature=sign(rsa_key, data))
        answer = upload_parts(http, f"{app}/bundles/{bundle['id']}/files/{wrong}/upload", split(big))
        assert error(answer) == invalid_signature
        right = add_file(http, app, bundle["id"], big, signature=sign(rsa_key, big))
        answer = upload_parts(http, f"{app}/bundles/{bundle['id']}/files/{right}/upload", split(big))
        assert error(answer) == (200, {})
        finalized = finalize(http, app, bundle["id"], right).json()
        assert http.get(artifact_url(app, finalized) + "/download").content == big

        # A self-hosted bundle has no bytes here: its signature must match the declared checksum.
        digest = hashlib.sha256(data).digest()
        over_digest = base64.b64encode(
            rsa_key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        ).decode()  # the same signature as over the bytes
        assert over_digest == sign(rsa_key, data)
        url = {"url": "https://cdn.example.com/bundle.zip", "checksum": sha256(data)}
        assert error(http.post(f"{app}/bundles", json={"artifactType": "zip", **url})) == invalid_signature
        assert new_bundle(http, app, **url, signature=over_digest)["id"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_signatures_are_accepted(signed_sb: Sandbox, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text(pem_of(rsa_key))
    data = payload(20_000, seed=11)
    (tmp_path / "bundle.zip").write_bytes(data)
    signature = subprocess.run(
        ["sh", "-c", 'openssl dgst -sha256 -sign "$1" "$2" | base64 -w0', "sh", "key.pem", "bundle.zip"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # exactly what the reference documents (§6 step 3)
    assert signature == sign(rsa_key, data)
    app = f"/v1/apps/{signed_sb.app_id}"
    with sandbox_client(signed_sb, timeout=60) as http:
        bundle = upload_zip(http, app, data, signature=signature)
        assert http.get(artifact_url(app, bundle) + "/download").content == data


def test_public_key_must_be_rsa(rsa_key: rsa.RSAPrivateKey) -> None:
    assert Sandbox(SandboxConfig(public_key_pem=pem_of(rsa_key, private=False))).state.public_keys
    assert Sandbox(SandboxConfig()).state.public_keys == {}
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for pem in (ec_pem, "not a key"):
        with pytest.raises(ValueError):
            Sandbox(SandboxConfig(public_key_pem=pem))


# -- manifest bundles, channels, self-hosted bundles, delete ----------------------------------------
def test_manifest_bundle(http: httpx.Client, app: str) -> None:
    files = {"index.html": b"<!doctype html><script src=app.js></script>", "assets/app.js": payload(40_000)}
    manifest = json.dumps(
        [{"href": h, "checksum": sha256(d), "sizeInBytes": len(d)} for h, d in files.items()]
    ).encode()
    bundle = new_bundle(http, app, artifactType="manifest")
    files_url = f"{app}/bundles/{bundle['id']}/files"
    html = files["index.html"]
    assert issue_paths(http.post(files_url, files=file_form(html, True, name="index.html"))) == [["href"]]
    escape = file_form(html, True, name="index.html", href="../index.html")
    assert issue_paths(http.post(files_url, files=escape)) == [["href"]]
    for href, data in files.items():
        add_file(http, app, bundle["id"], data, name=href.rsplit("/", 1)[-1], href=href, mimeType="text/plain")
    assert error(finalize(http, app, bundle["id"])) == (
        400,
        {"message": "App bundle has no capawesome-live-update-manifest.json file."},
    )
    name = "capawesome-live-update-manifest.json"
    late = add_file(http, app, bundle["id"], manifest, inline=False, name=name, href=name)  # sent in parts below
    assert error(finalize(http, app, bundle["id"])) == (
        400,
        {"message": f"App bundle file {name} has not been uploaded."},
    )
    assert upload_parts(http, f"{files_url}/{late}/upload", [manifest]).json() == {}
    finalized = finalize(http, app, bundle["id"])
    assert finalized.status_code == 200, finalized.text
    artifact = http.get(f"{app}/builds/{bundle['appBuildId']}/artifacts").json()[0]
    assert (artifact["type"], artifact["status"], artifact["fileName"]) == ("manifest", "ready", name)
    assert http.get(artifact_url(app, bundle) + "/download").content == manifest


def test_channel_deployment_at_the_bundle_rollout(http: httpx.Client, app: str) -> None:
    assert error(http.post(f"{app}/bundles", json={"artifactType": "zip", "channelName": "nightly"})) == (
        404,
        {"message": "App channel not found."},
    )
    assert http.get(f"{app}/channels", params={"name": "nightly"}).json() == []  # not created on the fly
    bundle = new_bundle(http, app, channelName="beta", rolloutPercentage=0.25)
    beta = http.get(f"{app}/channels", params={"name": "beta"}).json()[0]
    assert bundle["appDeploymentId"] is None and beta["appDeploymentId"] is None  # nothing until finalize
    data = payload(2000)
    finalized = finalize(http, app, bundle["id"], add_file(http, app, bundle["id"], data)).json()
    deployment = http.get(f"{app}/deployments/{finalized['appDeploymentId']}").json()
    assert (deployment["appBuildId"], deployment["appChannelId"], deployment["rolloutPercentage"]) == (
        bundle["appBuildId"],
        beta["id"],
        0.25,
    )
    channel = http.get(f"{app}/channels/{beta['id']}", params={"relations": "appDeployment"}).json()
    assert channel["appDeploymentId"] == deployment["id"] and channel["appDeployment"]["rolloutPercentage"] == 0.25
    assert upload_zip(http, app, data, channelName="production")["appDeploymentId"]  # the CLI's default rollout: 1


def test_bundle_create_validation(http: httpx.Client, app: str) -> None:
    bundles = f"{app}/bundles"
    too_many = {f"key{index}": "value" for index in range(11)}
    bad_bodies: list[tuple[dict[str, Any], list[Any]]] = [
        ({}, ["artifactType"]),
        ({"artifactType": "tar"}, ["artifactType"]),
        ({"artifactType": "zip", "customProperties": too_many}, ["customProperties"]),
        ({"artifactType": "zip", "customProperties": ["a=b"]}, ["customProperties"]),
        ({"artifactType": "zip", "customProperties": {"build": 7}}, ["customProperties", "build"]),
        ({"artifactType": "zip", "rolloutPercentage": 25}, ["rolloutPercentage"]),
        ({"artifactType": "zip", "minAndroidAppVersionCode": 10}, ["minAndroidAppVersionCode"]),
        ({"artifactType": "zip", "url": "https://x", "checksum": "nope"}, ["checksum"]),
        ({"artifactType": "manifest", "url": "https://x"}, ["artifactType"]),
    ]
    for body, path in bad_bodies:
        assert issue_paths(http.post(bundles, json=body)) == [path], body
    # The official CLI sends its whole DTO; the extra keys are accepted.
    assert new_bundle(http, app, appId="x", expiresAt="2030-01-01T00:00:00Z", gitCommitSha="abc")["id"]


def test_self_hosted_bundle(http: httpx.Client, app: str) -> None:
    url = "https://cdn.example.com/bundle-1.zip"
    bundle = new_bundle(http, app, url=url, checksum=sha256(b"zip"), channelName="production", rolloutPercentage=0.5)
    assert bundle["appDeploymentId"]  # ready at once: deployed at once
    assert http.get(f"{app}/deployments/{bundle['appDeploymentId']}").json()["rolloutPercentage"] == 0.5
    artifact = http.get(f"{app}/builds/{bundle['appBuildId']}/artifacts").json()[0]
    assert (artifact["status"], artifact["downloadUrl"], artifact["totalSizeInBytes"]) == ("ready", url, None)
    assert error(http.get(artifact_url(app, bundle) + "/download")) == (
        404,
        {"message": "App build artifact has no file."},
    )
    already = (400, {"message": "App bundle is already ready."})
    assert error(http.post(f"{app}/bundles/{bundle['id']}/files", files=file_form(b"x", True))) == already
    assert error(finalize(http, app, bundle["id"], "any")) == already


def test_delete_bundle_and_stop_remove_the_files(sb: Sandbox, http: httpx.Client, app: str) -> None:
    bundle = upload_zip(http, app, payload(1000))
    kept = upload_zip(http, app, payload(1000, seed=1))
    storage = sb.state.storage()
    assert len(list(storage.iterdir())) == 2
    assert http.delete(f"{app}/bundles/{bundle['id']}").status_code == 204
    assert len(list(storage.iterdir())) == 1
    assert error(http.delete(f"{app}/bundles/{bundle['id']}")) == (404, {"message": "App bundle not found."})
    assert http.get(artifact_url(app, bundle) + "/download").status_code == 404
    assert http.get(f"{app}/builds/{bundle['appBuildId']}").status_code == 200  # the build stays
    assert http.get(artifact_url(app, kept) + "/download").status_code == 200
    sb.stop()
    assert not storage.exists()


# -- memory ----------------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def test_large_multipart_upload_is_assembled_on_disk(sb: Sandbox, http: httpx.Client, app: str) -> None:
    count = 12  # 120 MiB

    def blobs() -> Iterator[bytes]:  # made one at a time: the test holds no more than a part either
        for number in range(count):
            yield hashlib.shake_256(number.to_bytes(2, "big")).digest(PART)

    digest = hashlib.sha256()
    for blob in blobs():
        digest.update(blob)
    warm_up = payload(PART + 1)  # the server thread, its buffers and the client's pool exist before measuring
    upload_zip(http, app, warm_up)
    bundle = new_bundle(http, app)
    fields = file_form(b"", False, checksum=digest.hexdigest(), sizeInBytes=str(count * PART))
    file_id = http.post(f"{app}/bundles/{bundle['id']}/files", files=fields).json()["id"]
    del warm_up

    peak_resets = Path("/proc/self/clear_refs").exists()
    if peak_resets:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS, so VmHWM below is this upload's peak
    before = _status_kib("VmRSS")
    answer = upload_parts(http, f"{app}/bundles/{bundle['id']}/files/{file_id}/upload", blobs())
    grown = _status_kib("VmHWM" if peak_resets else "VmRSS") - before
    assert answer.json() == {}
    assert grown < 60 * 1024, f"RSS grew by {grown} KiB"  # the sandbox shares this process

    bundle = finalize(http, app, bundle["id"], file_id).json()
    downloaded = hashlib.sha256()
    with http.stream("GET", artifact_url(app, bundle) + "/download") as response:
        assert response.headers["Content-Length"] == str(count * PART)
        for chunk in response.iter_bytes():
            downloaded.update(chunk)
    assert downloaded.hexdigest() == digest.hexdigest()

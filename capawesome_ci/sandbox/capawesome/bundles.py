"""Live-update bundles (`/v1/apps/{app}/bundles…`, api reference §5.6 and §6): create, add files
inline or by multipart upload, finalize into a ready build artifact (and a channel deployment),
delete.

Uploaded bytes go to the sandbox's temporary directory and are hashed as they go by, so a bundle of
several hundred MiB never sits in memory; only one request body (an inline file or one part, at
most 10 MiB each) does.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.channels import app_channels
from capawesome_ci.sandbox.capawesome.state import BundleFileRecord, BundleRecord, SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import find, rollout_field, string_field, type_name
from capawesome_ci.sandbox.server import ApiFailure, Request, Response, bad_request, invalid, not_found

INLINE_LIMIT = 10 << 20  # files this big or bigger go through the multipart upload
MIN_PART_SIZE = 5 << 20  # every part but the last
MAX_PARTS = 10_000
CHUNK = 1 << 20
MANIFEST = "capawesome-live-update-manifest.json"
Uploads = dict[str, dict[int, tuple[str, int]]]  # upload id → part number → (etag, size)
MAX_CUSTOM_PROPERTIES = 10
STRING_FIELDS = (
    "channelName", "gitRef", "gitCommitMessage", "gitCommitRef", "gitCommitSha", "url", "checksum", "signature",
    "expiresAt", "minAndroidAppVersionCode", "maxAndroidAppVersionCode", "eqAndroidAppVersionCode",
    "minIosAppVersionCode", "maxIosAppVersionCode", "eqIosAppVersionCode",
)  # fmt: skip


# -- multipart/form-data ---------------------------------------------------------------------------
def form_fields(request: Request) -> dict[str, memoryview]:
    """The fields of a multipart/form-data body, as views into it: a part of 10 MiB is not copied."""
    content_type = Message()
    content_type["Content-Type"] = request.headers.get("content-type", "")
    boundary = content_type.get_boundary()
    if content_type.get_content_type() != "multipart/form-data" or not boundary:
        raise bad_request("Expected a multipart/form-data body.")
    body, delimiter = request.raw_body, b"\r\n--" + boundary.encode()
    start = body.find(delimiter[2:])  # the first delimiter needs no line break before it
    if start < 0:
        raise bad_request("Malformed multipart body.")
    fields: dict[str, memoryview] = {}
    position = start + len(delimiter) - 2
    while body.startswith(b"\r\n", position):
        headers_end = body.find(b"\r\n\r\n", position)
        end = body.find(delimiter, headers_end + 4) if headers_end >= 0 else -1
        if end < 0:
            raise bad_request("Malformed multipart body.")
        headers = BytesHeaderParser().parsebytes(body[position + 2 : headers_end])
        name = headers.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = memoryview(body)[headers_end + 4 : end]
        position = end + len(delimiter)
    if not body.startswith(b"--", position):
        raise bad_request("Malformed multipart body.")
    return fields


def _text(fields: dict[str, memoryview], key: str, required: bool = False) -> str | None:
    view = fields.get(key)
    if view is None or (required and not view):
        if required:
            raise invalid([key], "Required")
        return None
    try:
        return str(view, "utf-8")
    except UnicodeDecodeError:
        raise invalid([key], "Expected string, received binary data") from None


def _integer(fields: dict[str, memoryview], key: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(_text(fields, key, required=True) or "")
    except ValueError:
        raise invalid([key], "Expected number, received nan") from None
    if value < minimum:
        raise invalid([key], f"Number must be greater than or equal to {minimum}")
    if maximum is not None and value > maximum:
        raise invalid([key], f"Number must be less than or equal to {maximum}")
    return value


def _checksum(value: str | None, key: str) -> str:
    if value is None or not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise invalid([key], "Expected a SHA-256 digest in hex")
    return value.strip().lower()


# -- checks ----------------------------------------------------------------------------------------
def _verify_signature(state: SandboxState, app_id: str, digest: bytes | None, signature: str | None) -> None:
    """With a public key configured, RSASSA-PKCS1-v1_5 with SHA-256 over the file's bytes, checked
    against their digest: the file itself never needs to be in memory."""
    key = state.public_keys.get(app_id)
    if key is None:
        return
    try:
        if digest is None:
            raise ValueError("nothing to verify the signature against")
        raw = base64.b64decode((signature or "").strip(), validate=True)
        key.verify(raw, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        raise bad_request("Invalid signature.") from None


def _check_upload(state: SandboxState, bundle: BundleRecord, file: BundleFileRecord, size: int, digest: bytes) -> None:
    if size != file.size or digest.hex() != file.checksum:
        raise bad_request("Checksum mismatch.")
    _verify_signature(state, bundle.app_id, digest, file.signature)


def _bundle(state: SandboxState, request: Request) -> BundleRecord:
    app = requested_app(state, request)
    bundle = state.bundles.get(request.params["bundle"])
    if bundle is None or bundle.app_id != app["id"]:
        raise not_found("App bundle")
    return bundle


def _pending_bundle(state: SandboxState, request: Request) -> BundleRecord:
    bundle = _bundle(state, request)
    if state.artifacts[bundle.id]["status"] != "pending":
        raise bad_request("App bundle is already ready.")
    return bundle


def _bundle_json(bundle: BundleRecord, deployment: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": bundle.id, "appBuildId": bundle.build_id, "appDeploymentId": deployment["id"] if deployment else None}


def _discard(state: SandboxState, file: BundleFileRecord) -> None:
    discard_parts(state, file.uploads)
    if file.path is not None:
        file.path.unlink(missing_ok=True)


# -- bundles ---------------------------------------------------------------------------------------
def create_bundle(state: SandboxState, request: Request) -> Response:
    # Unknown keys pass: the official CLI sends its whole DTO (appId, expiresAt, deprecated git fields).
    app, body = requested_app(state, request), request.json()
    artifact_type = body.get("artifactType")
    if artifact_type is None:
        raise invalid(["artifactType"], "Required")
    if artifact_type not in ("zip", "manifest"):
        raise invalid(["artifactType"], "Invalid enum value. Expected 'zip' | 'manifest'")
    for key in STRING_FIELDS:
        string_field(body, key)
    properties = body.get("customProperties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise invalid(["customProperties"], f"Expected object, received {type_name(properties)}")
        if len(properties) > MAX_CUSTOM_PROPERTIES:
            raise invalid(["customProperties"], f"Object must contain at most {MAX_CUSTOM_PROPERTIES} entries")
        for key, value in properties.items():
            if not isinstance(value, str):
                raise invalid(["customProperties", key], f"Expected string, received {type_name(value)}")
    rollout = rollout_field(body, required=False)
    url, checksum = body.get("url"), body.get("checksum")
    if url is not None and artifact_type != "zip":
        raise invalid(["artifactType"], "Self-hosted bundles must be of type zip.")
    if checksum is not None:
        checksum = _checksum(checksum, "checksum")
    channel = None
    if body.get("channelName") is not None:
        channel = find(app_channels(state, app["id"]), app["id"], "name", body["channelName"], "App channel")
    if url is not None:  # no bytes to check: the signature must match the declared checksum
        _verify_signature(state, app["id"], bytes.fromhex(checksum) if checksum else None, body.get("signature"))

    # The bundle is a web build that is finished at once (nothing to run, nothing for `settle()` to add).
    job = state.new_job(
        app["id"], "web", "succeeded", app["buildStack"], queue_seconds=0, run_seconds=0, log_lines=1, settled=True
    )
    build = state.new_build(app["id"], "web", job, git_ref=body.get("gitRef"))
    stamp = iso()
    artifact = {
        "id": new_id(),
        "appBuildId": build["id"],
        "type": artifact_type,
        "status": "pending" if url is None else "ready",
        "fileName": None,
        "totalSizeInBytes": None,
        "totalDownloads": 0,
        "formFactor": None,
        "downloadUrl": url,
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.artifacts[artifact["id"]] = artifact
    bundle = BundleRecord(
        artifact["id"], app["id"], build["id"], artifact_type, channel["id"] if channel else None, rollout
    )
    state.bundles[bundle.id] = bundle
    deployment = state.deploy_to_channel(build, channel, rollout) if url is not None and channel else None
    return Response(201, _bundle_json(bundle, deployment))


def update_bundle(state: SandboxState, request: Request) -> Response:
    """Finalize: the artifact becomes ready and, with a channel, is deployed at the bundle's rollout."""
    bundle, body = _bundle(state, request), request.json()
    if body.get("artifactStatus") != "ready":
        raise invalid(["artifactStatus"], 'Invalid literal value, expected "ready"')
    artifact = state.artifacts[bundle.id]
    if artifact["status"] != "pending":
        raise bad_request("App bundle is already ready.")
    if bundle.artifact_type == "zip":
        served = bundle.files.get(string_field(body, "appBundleFileId", required=True) or "")
        if served is None:
            raise not_found("App bundle file")
        unfinished = [served] if served.path is None else []
    else:
        served = next((file for file in bundle.files.values() if file.href == MANIFEST), None)
        if served is None:
            raise bad_request(f"App bundle has no {MANIFEST} file.")
        unfinished = [file for file in bundle.files.values() if file.path is None]
    if unfinished:
        raise bad_request(f"App bundle file {unfinished[0].name} has not been uploaded.")
    channel = state.channels.get(bundle.channel_id or "")
    if bundle.channel_id is not None and channel is None:  # deleted since the bundle was created
        raise not_found("App channel")
    bundle.served = served
    artifact.update(
        status="ready",
        fileName="bundle.zip" if bundle.artifact_type == "zip" else MANIFEST,
        totalSizeInBytes=served.size,  # what the download returns, so clients can check it
        updatedAt=iso(),
    )
    build = state.builds[bundle.build_id]
    deployment = state.deploy_to_channel(build, channel, bundle.rollout) if channel else None
    return Response(body=_bundle_json(bundle, deployment))


def delete_bundle(state: SandboxState, request: Request) -> Response:
    bundle = _bundle(state, request)
    for file in bundle.files.values():
        _discard(state, file)
    del state.bundles[bundle.id]
    state.artifacts.pop(bundle.id, None)  # the web build and its deployments stay
    return Response(204)


# -- files -----------------------------------------------------------------------------------------
def create_file(state: SandboxState, request: Request) -> Response:
    bundle, fields = _pending_bundle(state, request), form_fields(request)
    checksum = _checksum(_text(fields, "checksum", required=True), "checksum")
    href = _text(fields, "href")
    if bundle.artifact_type == "manifest":
        if not href:
            raise invalid(["href"], "Required")
        if href.startswith("/") or ".." in href.split("/"):
            raise invalid(["href"], "Expected a relative path inside the bundle")
    file = BundleFileRecord(
        id=new_id(),
        name=_text(fields, "name", required=True) or "",
        href=href,
        mime_type=_text(fields, "mimeType"),
        checksum=checksum,
        size=_integer(fields, "sizeInBytes", 0),
        signature=_text(fields, "signature"),
    )
    data = fields.get("file")
    if data is not None:
        if file.size >= INLINE_LIMIT:
            raise invalid(["file"], "Files of 10 MiB or more must be uploaded in parts.")
        _check_upload(state, bundle, file, len(data), hashlib.sha256(data).digest())
        file.path = state.storage() / file.id
        file.path.write_bytes(data)
    bundle.files[file.id] = file
    return Response(201, {"id": file.id})


def _upload_target(state: SandboxState, request: Request) -> tuple[BundleRecord, BundleFileRecord]:
    bundle = _pending_bundle(state, request)
    file = bundle.files.get(request.params["file"])
    if file is None:
        raise not_found("App bundle file")
    if file.path is not None:
        raise bad_request("App bundle file is already uploaded.")
    return bundle, file


def upload_id_of(uploads: Uploads, request: Request) -> str:
    upload_id = string_field(request.query, "uploadId", required=True) or ""
    if upload_id not in uploads:
        raise not_found("Multipart upload")
    return upload_id


def start_upload(state: SandboxState, uploads: Uploads, request: Request) -> Response:
    """mpu-create: `{}` in (only its form is checked), `{uploadId}` out."""
    request.json()
    upload_id = new_id()
    (state.storage() / upload_id).mkdir()
    uploads[upload_id] = {}
    return Response(body={"uploadId": upload_id})


def store_part(state: SandboxState, uploads: Uploads, request: Request) -> Response:
    """PUT …/upload?action=mpu-uploadpart&uploadId=U: a part goes straight to disk; sending the same
    part number again replaces it (PUT is idempotent, so clients may retry)."""
    if request.query.get("action") != "mpu-uploadpart":
        raise invalid(["action"], "Invalid enum value. Expected 'mpu-uploadpart'")
    upload_id = upload_id_of(uploads, request)
    fields = form_fields(request)
    number = _integer(fields, "partNumber", 1, MAX_PARTS)
    blob = fields.get("blob")
    if blob is None:
        raise invalid(["blob"], "Required")
    etag = f'"{hashlib.md5(blob, usedforsecurity=False).hexdigest()}"'
    (state.storage() / upload_id / str(number)).write_bytes(blob)
    uploads[upload_id][number] = (etag, len(blob))
    return Response(body={"etag": etag, "partNumber": number})


def assemble_parts(
    state: SandboxState, uploads: Uploads, upload_id: str, body: dict[str, Any], target: Path
) -> tuple[int, bytes]:
    """mpu-complete: check the listed parts and join them into `target`; its size and SHA-256."""
    listed = body.get("parts")
    if not isinstance(listed, list) or not listed:
        raise invalid(["parts"], "Required" if listed is None else "Expected a non-empty array")
    for index, part in enumerate(listed):
        if not (isinstance(part, dict) and isinstance(part.get("etag"), str) and type(part.get("partNumber")) is int):
            raise invalid(["parts", index], "Expected {etag: string, partNumber: integer}")
    if [part["partNumber"] for part in listed] != list(range(1, len(listed) + 1)):
        raise bad_request("Parts must be sorted by partNumber and numbered from 1 without gaps.")
    uploaded = uploads[upload_id]
    for part in listed:
        number = part["partNumber"]
        if number not in uploaded:
            raise bad_request(f"Part {number} has not been uploaded.")
        etag, size = uploaded[number]
        if part["etag"].strip('"') != etag.strip('"'):  # S3-style: quotes are optional
            raise bad_request(f"Part {number} does not match its etag.")
        if size < MIN_PART_SIZE and number != len(listed):
            raise bad_request(f"Part {number} is smaller than 5 MiB; only the last part may be.")
    # Assemble on disk, hashing on the way: the file is never in memory, whatever its size.
    folder = state.storage() / upload_id
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for number in range(1, len(listed) + 1):
            with (folder / str(number)).open("rb") as source:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
    return size, digest.digest()


def discard_parts(state: SandboxState, uploads: Uploads) -> None:
    for upload_id in uploads:
        shutil.rmtree(state.storage() / upload_id, ignore_errors=True)
    uploads.clear()


def upload_action(state: SandboxState, request: Request) -> Response:
    """POST …/upload?action=mpu-create or mpu-complete."""
    bundle, file = _upload_target(state, request)
    action = request.query.get("action")
    if action == "mpu-create":
        return start_upload(state, file.uploads, request)
    if action == "mpu-complete":
        return _complete(state, bundle, file, upload_id_of(file.uploads, request), request.json())
    raise invalid(["action"], "Invalid enum value. Expected 'mpu-create' | 'mpu-complete'")


def upload_part(state: SandboxState, request: Request) -> Response:
    _, file = _upload_target(state, request)
    return store_part(state, file.uploads, request)


def _complete(
    state: SandboxState, bundle: BundleRecord, file: BundleFileRecord, upload_id: str, body: dict[str, Any]
) -> Response:
    target = state.storage() / file.id
    size, digest = assemble_parts(state, file.uploads, upload_id, body, target)
    try:
        _check_upload(state, bundle, file, size, digest)
    except ApiFailure:
        target.unlink()  # the parts stay: a corrected part can still be sent
        raise
    _discard(state, file)
    file.path = target
    return Response(body={})

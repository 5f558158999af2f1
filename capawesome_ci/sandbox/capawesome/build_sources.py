"""Build sources (`/v1/apps/{app}/build-sources…`, api reference §5.2): create one for an upload
(`{fileSizeInBytes}`, then the multipart flow of bundle files, file name source.zip) or for a zip
served elsewhere (`{fileUrl}`, ready at once), download it; a build made from one is checked in
builds.py (`source_for_build`).

Uploaded bytes go to the sandbox's temporary directory through bundles.py's multipart helpers, so a
source of any size never sits in memory.
"""

from __future__ import annotations

import zipfile
from typing import Any
from urllib.parse import urlsplit

from capawesome_ci.sandbox.artifacts import file_chunks
from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.bundles import (
    assemble_parts,
    discard_parts,
    start_upload,
    store_part,
    upload_id_of,
)
from capawesome_ci.sandbox.capawesome.state import BuildSourceRecord, SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import string_field, type_name
from capawesome_ci.sandbox.server import ApiFailure, Request, Response, bad_request, invalid, not_found


def create_build_source(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    url, size = string_field(body, "fileUrl"), body.get("fileSizeInBytes")
    if (url is None) == (size is None):
        raise invalid([], "Provide either fileSizeInBytes or fileUrl.")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid(["fileUrl"], "Invalid url")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise invalid(["fileSizeInBytes"], f"Expected number, received {type_name(size)}")
        if size != int(size):
            raise invalid(["fileSizeInBytes"], "Expected integer, received float")
        if size <= 0:
            raise invalid(["fileSizeInBytes"], "Number must be greater than 0")
        size = int(size)
    source = BuildSourceRecord(new_id(), app["id"], url, size, iso())
    state.build_sources[source.id] = source
    return Response(201, source.to_json())


def _source(state: SandboxState, request: Request) -> BuildSourceRecord:
    app = requested_app(state, request)
    source = state.build_sources.get(request.params["source"])
    if source is None or source.app_id != app["id"]:
        raise not_found("App build source")
    return source


def _pending_upload(state: SandboxState, request: Request) -> BuildSourceRecord:
    source = _source(state, request)
    if source.file_url is not None:
        raise bad_request("App build source has no file to upload.")
    if source.path is not None:
        raise bad_request("App build source is already uploaded.")
    return source


def upload_action(state: SandboxState, request: Request) -> Response:
    """POST …/upload?action=mpu-create or mpu-complete."""
    source = _pending_upload(state, request)
    action = request.query.get("action")
    if action == "mpu-create":
        return start_upload(state, source.uploads, request)
    if action != "mpu-complete":
        raise invalid(["action"], "Invalid enum value. Expected 'mpu-create' | 'mpu-complete'")
    upload_id = upload_id_of(source.uploads, request)
    target = state.storage() / source.id
    size, _ = assemble_parts(state, source.uploads, upload_id, request.json(), target)
    if size != source.size:
        target.unlink()  # the parts stay: a corrected part can still be sent
        raise bad_request(f"File size mismatch: {size} bytes uploaded, {source.size} announced.")
    discard_parts(state, source.uploads)
    source.path = target
    return Response(body={})


def upload_part(state: SandboxState, request: Request) -> Response:
    return store_part(state, _pending_upload(state, request).uploads, request)


def download_build_source(state: SandboxState, request: Request) -> Response:
    source = _source(state, request)
    if source.file_url is not None:
        return Response(302, headers={"Location": source.file_url})
    if source.path is None or source.size is None:
        raise ApiFailure(404, {"message": "App build source has no file."})
    headers = {"Content-Type": "application/zip", "Content-Disposition": 'attachment; filename="source.zip"'}
    return Response(headers=headers, stream=file_chunks(source.path, 0, source.size), length=source.size)


def source_for_build(state: SandboxState, app_id: str, body: dict[str, Any]) -> BuildSourceRecord | None:
    """The build source a build create names, which must exist and be ready."""
    source_id = string_field(body, "appBuildSourceId")
    if source_id is None:
        return None
    source = state.build_sources.get(source_id)
    if source is None or source.app_id != app_id:
        raise not_found("App build source")
    if source.status != "ready":
        raise bad_request("App build source is not ready.")
    return source


def buildable(source: BuildSourceRecord) -> bool:
    """What the runner would find: an uploaded source must be a zip with the project's package.json
    at its root (a source served by URL is not fetched, so it is taken as buildable)."""
    if source.path is None:
        return True
    try:
        with zipfile.ZipFile(source.path) as archive:
            return "package.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False

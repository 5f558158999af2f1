"""Live-update bundle upload, as Capawesome Cloud's protocol wants it (api reference §6): create the
bundle, create each file (inline below 10 MiB, else the multipart flow with 10 MiB parts uploaded
in parallel, read from disk piece by piece), then finalize."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from capawesome_ci.steps.platform import BundleRequest, BundleUpload

if TYPE_CHECKING:
    from capawesome_ci.cloud.capawesome import CapawesomePlatform

MULTIPART_THRESHOLD = 10 * 1024 * 1024
PART_SIZE = 10 * 1024 * 1024
PART_CONCURRENCY = 4
VERSION_FIELDS = {
    "android_min": "minAndroidAppVersionCode",
    "android_max": "maxAndroidAppVersionCode",
    "android_eq": "eqAndroidAppVersionCode",
    "ios_min": "minIosAppVersionCode",
    "ios_max": "maxIosAppVersionCode",
    "ios_eq": "eqIosAppVersionCode",
}


def bundle_body(request: BundleRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"artifactType": request.artifact_type}
    if request.git_ref:
        body["gitRef"] = request.git_ref
    if request.custom_properties:
        body["customProperties"] = request.custom_properties
    for key, value in request.version_constraints.items():
        body[VERSION_FIELDS[key]] = value
    if request.url:
        body["url"] = request.url
        if request.checksum:
            body["checksum"] = request.checksum
        if request.signature:
            body["signature"] = request.signature
    return body


def upload_file(
    platform: CapawesomePlatform, bundle_id: str, upload: BundleUpload, progress: Callable[[int], None] | None
) -> str:
    files_path = f"{platform._app_path}/bundles/{quote(bundle_id, safe='')}/files"
    inline = upload.size < MULTIPART_THRESHOLD
    # Multipart form fields in the official CLI's order; the bytes only for small files.
    parts: list[tuple[str, tuple[str | None, Any, str | None]]] = [("checksum", (None, upload.checksum, None))]
    if inline:
        parts.append(("file", (upload.name.rsplit("/", 1)[-1], upload.path.read_bytes(), upload.mime_type)))
    if upload.href:
        parts.append(("href", (None, upload.href, None)))
    parts += [("mimeType", (None, upload.mime_type, None)), ("name", (None, upload.name, None))]
    if upload.signature:
        parts.append(("signature", (None, upload.signature, None)))
    parts.append(("sizeInBytes", (None, str(upload.size), None)))
    created = platform._request("POST", files_path, files=parts)
    file_id = str(created["id"]) if isinstance(created, dict) else ""
    if inline:
        if progress:
            progress(upload.size)
        return file_id
    _multipart(platform, f"{files_path}/{quote(file_id, safe='')}/upload", upload, progress)
    return file_id


def _multipart(
    platform: CapawesomePlatform, upload_path: str, upload: BundleUpload, progress: Callable[[int], None] | None
) -> None:
    started = platform._request("POST", upload_path, params={"action": "mpu-create"}, json={})
    upload_id = str(started["uploadId"]) if isinstance(started, dict) else ""
    count = max(1, -(-upload.size // PART_SIZE))
    done = 0
    lock = threading.Lock()
    descriptor = os.open(upload.path, os.O_RDONLY)

    def send(number: int) -> dict[str, Any]:
        nonlocal done
        # pread: each worker reads its own part, so at most PART_CONCURRENCY parts are in memory.
        data = os.pread(descriptor, PART_SIZE, (number - 1) * PART_SIZE)
        answer = platform._request(
            "PUT",  # idempotent: the transport may retry a failed part
            upload_path,
            params={"action": "mpu-uploadpart", "uploadId": upload_id},
            files=[("blob", ("blob", data, "application/octet-stream")), ("partNumber", (None, str(number), None))],
        )
        size = len(data)
        del data
        # httpx's request/response objects form reference cycles that keep the part alive until
        # the cyclic GC runs, which few allocations here would trigger late: collect now, or
        # memory grows by a part per request.
        gc.collect()
        with lock:
            done += size
            if progress:
                progress(done)
        return {"etag": answer["etag"], "partNumber": int(answer.get("partNumber", number))}

    try:
        with ThreadPoolExecutor(max_workers=PART_CONCURRENCY, thread_name_prefix="upload-part") as pool:
            parts = list(pool.map(send, range(1, count + 1)))
    finally:
        os.close(descriptor)
    parts.sort(key=lambda part: part["partNumber"])
    platform._request(
        "POST", upload_path, params={"action": "mpu-complete", "uploadId": upload_id}, json={"parts": parts}
    )

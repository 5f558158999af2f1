"""Live-update bundle upload, as Capawesome Cloud's protocol wants it (api reference §6): create the
bundle, create each file (inline below 10 MiB, else the multipart flow with 10 MiB parts uploaded
in parallel, read from disk piece by piece), then finalize. None of these requests is repeated
blindly; a failure after the bundle exists says so."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capawesome_ci.cloud.api import Api
from capawesome_ci.cloud.paths import segment
from capawesome_ci.errors import CiError, LocalIOError
from capawesome_ci.platform import Bundle, BundleRequest, BundleUpload

Progress = Callable[[int, int], None]

MULTIPART_THRESHOLD = 10 * 1024 * 1024
PART_SIZE = 10 * 1024 * 1024
PART_CONCURRENCY = 4
FILE_CONCURRENCY = 8  # files of a manifest bundle uploaded at once
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


class FilePart:
    """A read-only, seekable window on one part of a file, read with pread as httpx asks for it
    (64 KiB at a time): no part is ever held in memory whole, and a retry can rewind it.
    It has no fileno(), so httpx measures it with seek/tell instead of the whole file's size."""

    def __init__(self, descriptor: int, start: int, size: int, file_size: int) -> None:
        self._descriptor = descriptor
        self._start = start
        self.length = max(0, min(size, file_size - start))
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        left = self.length - self._position
        count = left if size < 0 else min(size, left)
        if count <= 0:
            return b""
        data = os.pread(self._descriptor, count, self._start + self._position)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.length}[whence]
        self._position = max(0, min(self.length, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position


def publish_bundle(
    api: Api, app_path: str, request: BundleRequest, uploads: list[BundleUpload], progress: Progress | None
) -> Bundle:
    """Create the bundle; unless it is self-hosted (`request.url`), upload its files (one zip, or every
    file of a manifest bundle) and finalize it."""
    created = api.object("POST", f"{app_path}/bundles", json=bundle_body(request))
    bundle_id, build_id = created.id("id"), created.maybe_id("appBuildId") or ""
    if request.url:
        return Bundle(id=bundle_id, build_id=build_id)
    bundle_path = f"{app_path}/bundles/{segment(bundle_id)}"
    try:
        file_id = _upload_all(api, bundle_path, uploads, progress, zipped=request.artifact_type == "zip")
        body: dict[str, Any] = {"artifactStatus": "ready"}
        if file_id:
            body["appBundleFileId"] = file_id
        # The answer's body is undocumented beyond the ids it may carry: an empty one is fine.
        finalized = api.object("PATCH", bundle_path, empty=True, json=body)
    except CiError as error:
        error.append(f" (bundle {bundle_id} was created but not finished; it cannot be deployed)")
        raise
    return Bundle(id=bundle_id, build_id=finalized.maybe_id("appBuildId") or build_id)


def _upload_all(
    api: Api, bundle_path: str, uploads: list[BundleUpload], progress: Progress | None, *, zipped: bool
) -> str | None:
    """The zip's file id (a zip bundle is finalized with it), or None for a manifest bundle."""
    total = sum(upload.size for upload in uploads)
    if zipped:
        (archive,) = uploads
        return _upload_file(api, bundle_path, archive, None if progress is None else lambda done: progress(done, total))
    sent = 0
    lock = threading.Lock()

    def one(upload: BundleUpload) -> str:
        nonlocal sent
        file_id = _upload_file(api, bundle_path, upload, None)
        with lock:
            sent += upload.size
            if progress:
                progress(sent, total)
        return file_id

    from concurrent.futures import ThreadPoolExecutor  # only uploads use it: not on every command's path

    with ThreadPoolExecutor(max_workers=FILE_CONCURRENCY, thread_name_prefix="upload-file") as pool:
        list(pool.map(one, uploads))
    return None


def _upload_file(api: Api, bundle_path: str, upload: BundleUpload, progress: Callable[[int], None] | None) -> str:
    try:
        return _send_file(api, bundle_path, upload, progress)
    except OSError as error:  # the file went away (or became unreadable) after it was hashed
        raise LocalIOError(f"cannot read {upload.name} to upload it: {error.strerror or error}") from None


def _send_file(api: Api, bundle_path: str, upload: BundleUpload, progress: Callable[[int], None] | None) -> str:
    files_path = f"{bundle_path}/files"
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
    file_id = api.object("POST", files_path, files=parts).id("id")
    if inline:
        if progress:
            progress(upload.size)
        return file_id
    multipart_upload(api, f"{files_path}/{segment(file_id)}/upload", upload.path, upload.size, progress)
    return file_id


def multipart_upload(
    api: Api,
    upload_path: str,
    path: Path,
    size: int,
    progress: Callable[[int], None] | None,
    *,
    file_name: str = "blob",
) -> None:
    """The mpu-create / mpu-uploadpart / mpu-complete flow at `upload_path` (bundle files and build
    sources alike), `size` bytes of `path` in parts read from disk as they are sent."""
    upload_id = api.object("POST", upload_path, params={"action": "mpu-create"}, json={}).token("uploadId")
    count = max(1, -(-size // PART_SIZE))
    done = 0
    lock = threading.Lock()
    descriptor = os.open(path, os.O_RDONLY)

    def send(number: int) -> dict[str, Any]:
        nonlocal done
        part = FilePart(descriptor, (number - 1) * PART_SIZE, PART_SIZE, size)
        answer = api.object(
            "PUT",  # idempotent: the transport may retry a failed part (httpx rewinds the part)
            upload_path,
            params={"action": "mpu-uploadpart", "uploadId": upload_id},
            files=[("blob", (file_name, part, "application/octet-stream")), ("partNumber", (None, str(number), None))],
        )
        with lock:
            done += part.length
            if progress:
                progress(done)
        # Our own part number: it is what this etag was returned for, whatever the answer echoes.
        return {"etag": answer.token("etag"), "partNumber": number}

    from concurrent.futures import ThreadPoolExecutor  # only uploads use it: not on every command's path

    try:
        with ThreadPoolExecutor(max_workers=PART_CONCURRENCY, thread_name_prefix="upload-part") as pool:
            parts = list(pool.map(send, range(1, count + 1)))
    finally:
        os.close(descriptor)
    parts.sort(key=lambda part: part["partNumber"])
    # The answer is undocumented (api reference §8): its status is all we use.
    api.request("POST", upload_path, params={"action": "mpu-complete", "uploadId": upload_id}, json={"parts": parts})

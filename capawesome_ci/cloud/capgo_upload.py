"""The Capgo-hosted bundle upload: the sequence `@capgo/cli bundle upload` (8.68.1) sends, kept in this
one module because it runs on Capgo's internal routes (Supabase PostgREST, /private/*, /files/*),
which may move. The public API has no upload; `POST /bundle` only registers a self-hosted zip.

The sequence (reference other-platforms.md §6), every step needed for a correct upload:
 1. `GET {api}/private/config` → the Supabase host and its anon key; PostgREST is then called with
    `apikey: <anon>`, `Authorization: Bearer <anon>` (supabase-js's default) and `capgkey: <API key>`.
 2. `GET {api}/app/{app_id}` → `owner_org`; `rpc/request_actor_user_id` → the key's user id.
 3. `rpc/exist_app_versions {appid, name_version}`: a name is never reused, not even a deleted
    bundle's (the public list does not show those), so a taken name stops here, before any write.
 4. `POST rest/v1/app_versions?on_conflict=name,app_id` (upsert) with `storage_provider: "r2-direct"`.
 5. `POST {files}/files/upload_link {app_id, name, version: 0}` → a presigned URL; `PUT` the zip to
    it, streamed from disk (constant memory), without our key (another origin).
 6. Mark it stored: `POST {api}/private/finalize_bundle_upload {app_id, name}` when the config says
    `useNewFinalizeBundleUpload`, else the upsert again with `storage_provider: "r2"` (as the CLI).
 7. `rpc/get_app_versions {apikey, name_version, appid}` → the bundle's id.
Assigning channels is done by the steps through the public `POST /channel`.

Left out, as not needed for a correct upload (the server enforces what they check on its writes):
the 2FA and permission probes (`rpc/reject_access_due_to_2fa_for_app`, `rpc/cli_check_permission`),
the plan checks (`rpc/get_organization_cli_warnings`, `is_allowed_action_org_action`, `is_trial_org`,
`is_paying_org`, `has_usage_credits_org`), `GET /files/config` (TUS settings: we upload by PUT),
the same-checksum-on-channel dedupe, the compatibility reads of the channel, and the analytics
`POST /private/events`.

After the version row exists, a failed upload deletes it again (`DELETE {api}/private/delete_failed_version`,
as the CLI does), so the name can be used on the next run.

Where the files host is: `$CAPGO_FILES_URL` when set; `https://files.capgo.app` for the real API
(`https://api.capgo.app`, as the CLI's default `localApiFiles`); otherwise the base URL itself (the
emulator, or a self-hosted Capgo serving both on one origin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from capawesome_ci.cloud.answers import Record, read_answer, unusable
from capawesome_ci.cloud.api import Api
from capawesome_ci.cloud.errors import map_transport_error, raise_for_response
from capawesome_ci.cloud.paths import segment
from capawesome_ci.cloud.retry import RetryingTransport
from capawesome_ci.cloud.transport import DEFAULT_TIMEOUT, USER_AGENT, TlsOnDemandTransport, make_http_client
from capawesome_ci.errors import CiError, InputError, LocalIOError
from capawesome_ci.providers import Connection

REAL_API_HOST = "api.capgo.app"
REAL_FILES_URL = "https://files.capgo.app"
CHUNK = 1 << 20
SINGLE_OBJECT = "application/vnd.pgrst.object+json"  # what supabase-js `.single()` asks for


@dataclass(frozen=True)
class Encryption:
    """What an encrypted bundle is registered with (the file uploaded is the encrypted one)."""

    session_key: str  # "{iv base64}:{RSA-wrapped AES key base64}", as the CLI's generateSessionKey
    key_id: str | None  # the first 20 base64 characters of the public key (the CLI's calcKeyId)


def files_origin(base_url: str, override: str | None) -> str:
    if override:
        return override.rstrip("/")
    if httpx.URL(base_url).host == REAL_API_HOST:
        return REAL_FILES_URL
    return base_url.rstrip("/")


def postgrest_message(response: httpx.Response) -> str:
    """PostgREST's `{"code", "message", "details", "hint"}`, or Capgo's `{"error", "message"}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [body.get(key) for key in ("message", "error", "code")]
        texts = [part for part in parts if isinstance(part, str) and part.strip()]
        if texts:
            return texts[0] if len(texts) == 1 else f"{texts[0]} ({texts[1]})"
    return f"HTTP {response.status_code}"


class FileBody(httpx.SyncByteStream):
    """The zip, read from disk a chunk at a time; iterable again, so a retried PUT sends it whole."""

    def __init__(self, path: Path, size: int, progress: Callable[[int, int], None] | None) -> None:
        self.path = path
        self.size = size
        self.progress = progress

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if self.progress is not None:
                        self.progress(sent, self.size)
        except OSError as error:
            raise LocalIOError(f"cannot read {self.path}: {error.strerror or error}") from None


def _checked_origin(text: str | None, what: str, method: str, path: str, plain_allowed: bool) -> str:
    """A server-given URL we will send to: http(s) with a host; plain http only when the API is."""
    try:
        url = httpx.URL(text or "")
    except (httpx.InvalidURL, ValueError):
        url = None
    schemes = ("https", "http") if plain_allowed else ("https",)
    if url is None or url.scheme not in schemes or not url.host:
        raise unusable(method, path, f"a {what} that is not an {'/'.join(schemes)} URL")
    return str(url)


class HostedUpload:
    def __init__(self, api: Api, connection: Connection, files_url: str | None = None) -> None:
        self.api = api
        self.connection = connection
        self.app_id = connection.app_id
        self.key = connection.token
        self.plain_allowed = httpx.URL(connection.base_url).scheme == "http"  # the emulator on loopback
        self.files_url = files_origin(connection.base_url, files_url)

    def _client(self, base_url: str, token: str, auth_scheme: str | None, **headers: str) -> httpx.Client:
        client = make_http_client(base_url, token, debug=self.connection.debug, auth_scheme=auth_scheme)
        client.headers.update(headers)
        return client

    def _config(self) -> tuple[str, str, bool]:
        """The Supabase host, its anon key, and whether the config says to finalize by its own route."""
        answer = read_answer(self.api.request("GET", "/private/config", headers={"capgkey": self.key}))
        config = Record.of(answer, "GET", "/private/config")
        supa_host = _checked_origin(
            config.text("supaHost"), "'supaHost'", "GET", "/private/config", self.plain_allowed
        ).rstrip("/")
        finalize_route = answer.get("useNewFinalizeBundleUpload") is True  # anything else: the older way
        return supa_host, config.token("supaKey"), finalize_route

    def _refuse_taken(self, supa: Api, name: str) -> None:
        if self._rpc(supa, "exist_app_versions", {"appid": self.app_id, "name_version": name}) is True:
            raise InputError(
                f"bundle {name} already exists in app {self.app_id} (Capgo never reuses a bundle name, "
                "even a deleted one's): give another version",
                field="bundle",
            )

    def refuse_taken_name(self, name: str) -> None:
        """Step 3 alone, for a dry run: the public list hides deleted bundles, whose names stay taken.
        Only reads (the check is a read-only RPC), so a dry run may send it."""
        supa_host, anon, _ = self._config()
        with self._client(supa_host, anon, "Bearer", apikey=anon, capgkey=self.key) as supa_http:
            self._refuse_taken(Api(supa_http, message_of=postgrest_message), name)

    def run(
        self,
        name: str,
        archive: Path,
        checksum: str,
        encryption: Encryption | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> str:
        """Upload `archive` as bundle `name`; its id."""
        supa_host, anon, finalize_route = self._config()
        owner_org = self.api.object("GET", f"/app/{segment(self.app_id)}").token("owner_org")
        with (
            self._client(supa_host, anon, "Bearer", apikey=anon, capgkey=self.key) as supa_http,
            self._client(self.files_url, self.key, None, capgkey=self.key) as files_http,
        ):
            supa = Api(supa_http, message_of=postgrest_message)
            files = Api(files_http, message_of=postgrest_message)
            user_id = self._rpc_text(supa, "request_actor_user_id", {})
            self._refuse_taken(supa, name)
            row: dict[str, Any] = {
                "name": name,
                "app_id": self.app_id,
                "storage_provider": "r2-direct",
                "owner_org": owner_org,
                "user_id": user_id,
                "checksum": checksum,
                "link": None,
                "comment": None,
            }
            if encryption is not None:
                row["session_key"] = encryption.session_key
                if encryption.key_id:
                    row["key_id"] = encryption.key_id
            self._upsert_version(supa, row)
            try:
                self._put(files, name, archive, progress)
                if finalize_route:
                    self.api.object(
                        "POST",
                        "/private/finalize_bundle_upload",
                        json={"app_id": self.app_id, "name": name},
                        headers={"capgkey": self.key},
                        empty=True,
                    )
                else:
                    self._upsert_version(supa, {**row, "storage_provider": "r2", "manifest": None})
            except CiError as error:
                error.append(self._delete_failed(name))
                raise
            version = self._rpc(
                supa, "get_app_versions", {"apikey": self.key, "name_version": name, "appid": self.app_id}
            )
        if type(version) is not int or version < 0:
            raise unusable("POST", "/rest/v1/rpc/get_app_versions", "no bundle id")
        return str(version)

    # -- PostgREST ---------------------------------------------------------------------------------
    @staticmethod
    def _rpc(supa: Api, function: str, body: dict[str, Any]) -> Any:
        response = supa.request("POST", f"/rest/v1/rpc/{function}", json=body, headers={"Accept": SINGLE_OBJECT})
        return read_answer(response)

    def _rpc_text(self, supa: Api, function: str, body: dict[str, Any]) -> str:
        value = self._rpc(supa, function, body)
        if not isinstance(value, str) or not value:
            raise unusable("POST", f"/rest/v1/rpc/{function}", "no text where the user id was expected")
        return value

    def _upsert_version(self, supa: Api, row: dict[str, Any]) -> None:
        """supabase-js `upsert(row, {onConflict: "name,app_id"}).eq("app_id", …).eq("name", …)`."""
        supa.request(
            "POST",
            "/rest/v1/app_versions",
            params={"on_conflict": "name,app_id", "app_id": f"eq.{self.app_id}", "name": f"eq.{row['name']}"},
            json=row,
            headers={"Prefer": "resolution=merge-duplicates"},
        )

    # -- the file ----------------------------------------------------------------------------------
    def _put(self, files: Api, name: str, archive: Path, progress: Callable[[int, int], None] | None) -> None:
        link = files.object("POST", "/files/upload_link", json={"app_id": self.app_id, "name": name, "version": 0})
        url = _checked_origin(link.text("url"), "'url'", "POST", "/files/upload_link", self.plain_allowed)
        try:
            size = archive.stat().st_size
        except OSError as error:
            raise LocalIOError(f"cannot read {archive}: {error.strerror or error}") from None
        # The presigned URL is another origin (storage): our key never goes there.
        with httpx.Client(
            transport=RetryingTransport(TlsOnDemandTransport()),
            timeout=DEFAULT_TIMEOUT,
            headers={"User-Agent": USER_AGENT},
        ) as storage:
            request = storage.build_request("PUT", url, content=b"", headers={"Content-Type": "application/zip"})
            request.headers["Content-Length"] = str(size)
            request.stream = FileBody(archive, size, progress)
            try:
                response = storage.send(request)
            except httpx.TransportError as error:
                raise map_transport_error(error, request) from None
            raise_for_response(response, postgrest_message)

    def _delete_failed(self, name: str) -> str:
        """Best effort, as the CLI's `delete_failed_version`: a note for the error message."""
        try:
            self.api.request(
                "DELETE",
                "/private/delete_failed_version",
                json={"app_id": self.app_id, "name": name},
                headers={"capgkey": self.key},
            )
        except CiError:
            return f"; bundle {name} was left half-created: delete it in Capgo before running again"
        return f"; the half-created bundle {name} was deleted"

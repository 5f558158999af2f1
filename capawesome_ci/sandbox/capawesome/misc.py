"""What belongs to no resource: the current user (`/v1/users/me`), and the pages that take no
token: QR codes (`/v1/qrcodes`) and the console stand-in (`/console…`)."""

from __future__ import annotations

from capawesome_ci.sandbox.capawesome.state import SandboxState
from capawesome_ci.sandbox.capawesome.validation import string_field
from capawesome_ci.sandbox.server import Request, Response

# A real 1x1 PNG: enough of a QR code for a sandbox.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def get_me(state: SandboxState, request: Request) -> Response:
    return Response(body=state.user)


# -- pages without a token -----------------------------------------------------------------------
def qr_code(state: SandboxState, request: Request) -> Response:
    string_field(request.query, "content", required=True)
    return Response(headers={"Content-Type": "image/png"}, raw=PNG)


def console_page(state: SandboxState, request: Request) -> Response:
    page = f"<!doctype html><title>Capawesome Cloud sandbox</title><p>Sandbox console stand-in for {request.path}</p>"
    return Response(headers={"Content-Type": "text/html; charset=utf-8"}, raw=page.encode())

"""The Capawesome Cloud emulator (`--sandbox --provider capawesome`, the default), one module per
resource:

    emulator.py     `Sandbox` (the emulator itself) and `serve_forever` (`sandbox serve`)
    routes.py       the route table and `dispatch` (token check, 401/404/405, error bodies)
    state.py        `SandboxConfig` and `SandboxState`: everything the emulated cloud holds; jobs
    build_log.py    the lines of a job's log: the template's milestones and progress lines between
    validation.py   body/field checks with zod-shaped errors, paging, lookup; the `Handler` type
    apps.py         apps
    channels.py     live-update channels
    builds.py       builds (and their native-version limits), artifacts (downloads, signed URLs), shares
    deployments.py  deployments to channels and store destinations
    jobs.py         jobs: list, status, logs, cancel, failure summary
    bundles.py      live-update bundles and their (multipart) file uploads
    misc.py         the current user, QR codes, console pages
    records.py      what app records named per app share: create/list/read/update/delete handlers
    environments.py environments, their variables and secrets
    configurations.py, destinations.py, certificates.py   the other app records (on `records.py`)
    devices.py      live-update devices, and the probe a device makes (`bundles/latest`)
    organizations.py    organizations; `requested_organization` for the routes under one
    members.py          organization members: list, remove
    invitations.py      organization invitations: invite, list, revoke
    teams.py            teams, with their apps and members
    git_connections.py  git connections, their namespaces and repositories
    license_keys.py     license keys: create, list, read, update, delete, rotate
    app_admin.py        apps: create, update, delete, transfer
    repository.py       the git repository an app is linked to
    webhooks.py         app webhooks
    automations.py      app automations (builds on branch or tag pushes)
    admin_fields.py     field checks the modules above share (enums, booleans, e-mails, id lists)

The HTTP server, fault injection and artifact bytes (generated ZIP containers) are shared by every
emulator and live one level up, in `capawesome_ci.sandbox`.
"""

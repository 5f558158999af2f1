"""The Peak Press emulator (`--sandbox --provider peak`): app deployments, their revisions, redeploy
and the spec releases they deploy, over real HTTP on loopback (state.py, routes.py, start.py)."""

"""The Capwrapper emulator: `state.py` (configuration, builds and their status clock, signed URLs),
`routes.py` (the four API routes and the download origin) and `start.py` (the emulator with its
second loopback origin, `--sandbox` and `sandbox serve`)."""

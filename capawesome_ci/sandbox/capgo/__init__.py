"""The Capgo emulator: `state.py` (the organisation, apps, bundles, channels, stored zips), `routes.py`
(the public API), `internal.py` (what Capgo's CLI uses besides it: its config, the files host,
PostgREST) and `start.py` (the emulator, `--sandbox` and `sandbox serve`; Capgo Build is `builds.py`)."""

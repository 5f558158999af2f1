"""Tools for developing capawesome-ci, never imported when it runs: the generator of the action and
template files (action_yml.py)."""

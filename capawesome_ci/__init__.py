"""capawesome-ci: drive Capawesome Cloud from CI pipelines."""

__version__ = "0.1.0"

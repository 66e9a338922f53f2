"""kasmos supervisor: the daemon, and what clients share with it (errors, paths, config models)."""

__version__ = "0.1.0"

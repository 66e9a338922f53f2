"""The task store: Peewee over SQLite, the task FSM, signals (emit/claim/reap), audit, outbox.

Everything here is importable without ZeroMQ, so the CLI can use the store directly when no
daemon runs.
"""

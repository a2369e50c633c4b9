"""Thin async clients for the outside world: Prometheus, Kubernetes, Redis, Postgres.

Each call is bounded by a timeout and each adapter borrows a client or pool that the
operator creates once at startup and reuses; no adapter owns a connection of its own.
"""

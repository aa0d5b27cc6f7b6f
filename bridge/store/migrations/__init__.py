"""Alembic migrations of the store, applied by `bridge.store.engine.upgrade` at start-up."""

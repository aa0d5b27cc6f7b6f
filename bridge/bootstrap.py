"""Builds long-lived resources from settings (the store and its secret box).

Constructors elsewhere only assign; this is where settings turn into objects.  Nothing here
starts I/O except reading or creating the secret key file.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url

from bridge.secretbox import SecretBox
from bridge.settings import Settings
from bridge.store import Store, sqlite_url

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)


def database_url(settings: Settings) -> str:
    """The database URL: the configured one (with store.password put in), or SQLite."""
    cfg = settings.store
    if not cfg.url:
        return sqlite_url(cfg.data_dir)
    if cfg.password is None:
        return cfg.url
    url = make_url(cfg.url).set(password=cfg.password.get_secret_value())
    return url.render_as_string(hide_password=False)


def secret_box(settings: Settings) -> SecretBox:
    """The box that encrypts camera passwords, keyed from config, env or the key file."""
    cfg = settings.store
    key = cfg.secret_key.get_secret_value() if cfg.secret_key is not None else None
    return SecretBox.from_sources(key=key, key_file=cfg.data_dir / SECRET_KEY_FILE)


def build_store(settings: Settings) -> Store:
    """A not yet started :class:`Store` for these settings."""
    return Store(
        database_url(settings), secret_box(settings), connect_timeout_s=settings.store.timeout_s
    )

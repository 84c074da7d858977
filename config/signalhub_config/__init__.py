"""Settings for signalhub: one frozen, typed object read from ``SIGNALHUB_*`` variables."""

from signalhub_config.settings import KeyMaterial, MissingKeysError, Settings

__all__ = ["KeyMaterial", "MissingKeysError", "Settings"]

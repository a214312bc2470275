"""localhub: Binder at home."""

__version__ = "0.1.0"

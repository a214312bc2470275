"""Resource profiles shipped with localhub, as TOML data files (see localhub/profiles.py)."""

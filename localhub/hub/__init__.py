"""What JupyterHub runs: its generated configuration, the spawner, the desktop authenticator and policies."""

"""repo2docker configuration that localhub's builder passes with `--config` (a traitlets config file,
loaded by repo2docker, never imported).

Only the content providers the spec needs are tried (named in LOCALHUB_CONTENT_PROVIDERS, default
Local and Git): the hub knows each spec's provider already, and repo2docker's default list reaches
providers (Dataverse) whose detection downloads lists from the internet and fails offline.
"""

import os

from repo2docker import contentproviders

c = get_config()  # noqa: F821 — defined by traitlets when it loads this file

names = os.environ.get("LOCALHUB_CONTENT_PROVIDERS", "Local,Git").split(",")
c.Repo2Docker.content_providers = [getattr(contentproviders, name.strip()) for name in names if name.strip()]

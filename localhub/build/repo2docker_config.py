"""repo2docker configuration that localhub's builder passes with `--config` (a traitlets config file,
loaded by repo2docker, never imported).

Only the local-folder and git content providers are tried: the hub has already resolved every Binder
spec to a clone URL or a folder, and repo2docker's default list reaches providers (Dataverse) whose
detection downloads lists from the internet and fails offline.
"""

from repo2docker.contentproviders import Git, Local

c = get_config()  # noqa: F821 — defined by traitlets when it loads this file

c.Repo2Docker.content_providers = [Local, Git]

"""The hub's proxy runs inside JupyterHub's process: JupyterHub's `ConfigurableHTTPProxy`, whose `start` serves
localhub's proxy (proxy.py: the pure-Python configurable-http-proxy with localhub's fixes) from JupyterHub's own
event loop instead of starting it as a process of its own. A Python interpreter, tornado and their heap cost an
idle hub about 31 MiB more as a separate process (issue 11); the proxy's own code adds 0.4 MiB here.

Everything else is as with the process: the public port and the proxy's REST API on the next port, behind the
same token; JupyterHub adds and removes routes through that API (its own `ConfigurableHTTPProxy` code), and the
daemon marks paused servers' routes through it (pausing.py). The route table lives in JupyterHub's memory: it goes
when JupyterHub stops, as the process's did (it died with its JupyterHub, lifecycle.die_with_parent), and a
JupyterHub starting again adds every route anew (its `check_routes`: the hub, the services, the servers still
running, `extra_routes`). A paused server's mark is set again by the daemon's next pass (pausing.py).
"""

from __future__ import annotations

import logging

import configurable_http_proxy
from jupyterhub.objects import Server
from jupyterhub.proxy import ConfigurableHTTPProxy
from jupyterhub.utils import url_path_join

from . import limits
from .proxy import LocalhubProxy


class InProcessProxy(ConfigurableHTTPProxy):
    """`c.JupyterHub.proxy_class`: configurable-http-proxy served from JupyterHub's process. `pid_file` names where
    an older localhub's proxy process recorded itself: one still running (a hub killed before this version) is
    stopped first, as JupyterHub stops any proxy it finds left over."""

    _proxy: LocalhubProxy | None = None
    _servers: list = []

    async def start(self):
        self._check_previous_process()
        public, api = Server.from_url(self.public_url), Server.from_url(self.api_url)
        if public._unix_socket or api._unix_socket or self.ssl_key or self.ssl_cert or self.app.internal_ssl:
            raise ValueError("localhub's proxy serves plain HTTP on TCP ports only")
        # the library's import gives the root logger a handler (for its command): here JupyterHub's log is the log
        logging.root.removeHandler(configurable_http_proxy.handler)
        self._proxy = LocalhubProxy({
            "log": self.log,
            "auth_token": self.auth_token,
            "error_target": url_path_join(self.hub.url, "error"),
            "host_routing": bool(self.app.subdomain_host),
        })
        self._servers = []
        # bodies capped before anything reads them, half-sent requests bounded (limits.py): routes to single-user
        # servers raise the cap per request (proxy.py, prepare)
        for app, server in ((self._proxy.proxy_app, public), (self._proxy.api_app, api)):
            http = limits.guarded_server(app)
            self._servers.append(http)
            http.listen(server.port, server.ip)
        self.log.info("Proxy serving %s (in JupyterHub's process), its API at %s", public.bind_url, api.bind_url)

    def stop(self):
        for http in self._servers:
            http.stop()  # no new connections; those open end with the process
        self._servers = []
        self._remove_process_files()

    async def check_running(self):
        """It runs while this process does."""

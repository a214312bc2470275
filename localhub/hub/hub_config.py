"""Turn the daemon's resolved settings into JupyterHub configuration (see jupyterhub_config.py).

Settings are declared once, in `localhub.config.Settings` (name, default, help). A spawner option that carries a
setting is declared with `from_setting(name)`: it takes the setting's type, default and help, and `configure`
passes every such option its value from the daemon's settings — no second default, no hand-kept list.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

from traitlets import Dict, Float, Integer, TraitType, Unicode

from ..config import Settings, field_types, settings_from_dict
from ..redact import hide_secrets
from . import limits
from ..state import StateDir
from .server_command import server_command
from .server_tokens import revoke_server_tokens



def hub_api_port(port: int) -> int:
    """JupyterHub's own API: the fourth port of the block --port starts (the hub, the proxy's API, localhub's
    API, this). Bound on this hub's Docker gateway only; in a lab the daemon also serves it on the LAN address
    (pool/hub_door.py). Never on every interface, where it would clash with any other JupyterHub."""
    return port + 3

_TRAITS = {int: Integer, float: Float, str: Unicode, Path: Unicode, dict: Dict}


def from_setting(name: str) -> TraitType:
    """A configurable trait for the setting `name`, with that setting's type, default and help."""
    (field,) = [f for f in fields(Settings) if f.name == name]
    kind = field_types()[name]
    default = field.default if field.default is not MISSING else field.default_factory()  # type: ignore[misc]
    if kind is Path:
        default = str(default)
    return _TRAITS[kind](default, help=field.metadata["help"]).tag(config=True, setting=name)


def setting_values(cls, settings: Settings) -> dict:
    """{trait name: value} for every trait of `cls` declared with `from_setting`."""
    values = {}
    for trait_name, trait in cls.class_traits(setting=lambda name: name is not None).items():
        value = getattr(settings, trait.metadata["setting"])
        values[trait_name] = str(value) if isinstance(value, Path) else value
    return values


def configure(c, state_dir: str) -> None:
    hide_secrets()  # tornado's warnings name refused URLs whole, `?token=` included
    # JupyterHub builds its HTTP server itself: every HTTPServer of this process is a guarded one (limits.py)
    limits.guard_http_servers(max_body_size=limits.HUB_BODY_LIMIT)
    state = StateDir(Path(state_dir))
    runtime = state.read_runtime()
    if not runtime:
        raise SystemExit(f"localhub: no runtime.json in {state_dir}; start the hub with `localhub up`.")
    settings = settings_from_dict(runtime["settings"])
    gateway = runtime["gateway"]

    c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}/"
    c.JupyterHub.hub_bind_url = f"http://{gateway}:{hub_api_port(settings.port)}"
    c.JupyterHub.hub_connect_ip = gateway
    pool_address = runtime.get("pool_address")
    if pool_address:
        # servers on lab peers reach this hub's API at the LAN address, through the daemon (pool/hub_door.py)
        c.LocalhubSpawner.pool_address = pool_address
        c.LocalhubSpawner.poll_interval = 10  # a server evicted from a peer is noticed within seconds
    c.JupyterHub.db_url = f"sqlite:///{state.database}"
    c.JupyterHub.cookie_secret_file = str(state.cookie_secret)
    c.JupyterHub.pid_file = str(state.hub_pid_file)
    # servers outlive a hub restart; `localhub down` stops them explicitly
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = settings.max_named_servers
    c.JupyterHub.default_url = "/hub/home"

    c.JupyterHub.authenticator_class = "localhub.hub.auth.DesktopAuthenticator"
    c.DesktopAuthenticator.desktop_user = settings.user
    c.DesktopAuthenticator.login_tokens_dir = str(state.login_tokens)
    # the policy check and placement on peers are the daemon's: JupyterHub's code asks its API
    daemon_api = f"http://127.0.0.1:{runtime['service_port']}/services/localhub/api/hub"
    c.DesktopAuthenticator.daemon_url = c.LocalhubSpawner.daemon_url = daemon_api
    c.DesktopAuthenticator.daemon_token = c.LocalhubSpawner.daemon_token = state.secret("api-token")
    c.LocalhubSpawner.hub_api_port = hub_api_port(settings.port)
    c.Authenticator.allowed_users = {settings.user}
    c.Authenticator.admin_users = {settings.user}

    # PyPI's pure-Python configurable-http-proxy (no Node.js), with localhub's fixes (proxy.py), served from
    # JupyterHub's own process (hub_proxy.py); its API on the next port, for JupyterHub and the daemon
    c.JupyterHub.proxy_class = "localhub.hub.hub_proxy.InProcessProxy"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.port + 1}"
    c.ConfigurableHTTPProxy.auth_token = state.secret("proxy-token")
    c.ConfigurableHTTPProxy.pid_file = str(state.proxy_pid_file)  # an older localhub's proxy process, if one is left
    # Binder links with the host swapped reach the daemon's Binder service
    service_url = f"http://127.0.0.1:{runtime['service_port']}"
    c.Proxy.extra_routes = {"/v2/": service_url, "/build/": service_url}

    from .spawner import LocalhubSpawner  # here: the daemon imports this module and needs no DockerSpawner

    c.JupyterHub.spawner_class = "localhub.hub.spawner.LocalhubSpawner"
    c.Spawner.post_stop_hook = revoke_server_tokens  # a launch's token dies with its server's run
    for name, value in setting_values(LocalhubSpawner, settings).items():
        setattr(c.LocalhubSpawner, name, value)
    c.LocalhubSpawner.instance = settings.instance
    c.LocalhubSpawner.image = settings.image
    c.LocalhubSpawner.network_name = runtime["network"]
    c.LocalhubSpawner.use_internal_ip = True
    c.LocalhubSpawner.remove = True
    c.LocalhubSpawner.pull_policy = "never"
    c.LocalhubSpawner.notebook_dir = "/home/jovyan"
    # repo2docker images default to `jupyter notebook`; DockerSpawner would append its args to that
    c.LocalhubSpawner.cmd = server_command()
    c.LocalhubSpawner.http_timeout = 60

    # The daemon's token is 32 random bytes (state.secret_file): JupyterHub's 16384 rounds of SHA-512, meant for
    # tokens a person chose, cost every request of the daemon about 2 ms here and add nothing to such a token.
    # A hub whose database holds the token from before keeps its hash (checked as stored) until the token is new.
    c.JupyterHub.trust_user_provided_tokens = True
    # the idle culler is no service of its own: the daemon runs it with its token (culler.py)
    c.JupyterHub.services = [
        {
            "name": "localhub",
            "url": f"http://127.0.0.1:{runtime['service_port']}",
            "api_token": state.secret("api-token"),
            "display": True,
            "oauth_no_confirm": True,
        },
    ]
    c.JupyterHub.load_roles = [
        {"name": "admin", "users": [settings.user], "services": ["localhub"]},
    ]

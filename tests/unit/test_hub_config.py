"""The JupyterHub configuration is derived from the daemon's settings: each setting is declared once
(localhub.config.Settings) and reaches the spawner without a second default or a hand-kept list."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from localhub.config import Settings, settings_to_dict
from localhub.hub.hub_config import configure
from localhub.hub.spawner import LocalhubSpawner
from localhub.state import StateDir

pytestmark = pytest.mark.unit


def write_runtime(state_dir, settings: Settings) -> None:
    state = StateDir(state_dir)
    state.prepare()
    state.write_runtime({"settings": settings_to_dict(settings), "gateway": "172.30.0.1", "network": "net",
                         "service_port": settings.port + 2, "pool_address": None})


def spawner_for(config: Config) -> LocalhubSpawner:
    return LocalhubSpawner(config=config, user=SimpleNamespace(name="me", id=1, url="/user/me/"))


def test_every_setting_the_spawner_takes_reaches_it(tmp_path):
    settings = replace(Settings(state_dir=tmp_path / "state", config_dir=tmp_path / "config"),
                       pids_limit=77, default_profile="small", image="lab/img:1", labels={"a": "b"})
    write_runtime(settings.state_dir, settings)
    c = Config()
    configure(c, str(settings.state_dir))
    spawner = spawner_for(c)
    assert (spawner.pids_limit, spawner.default_profile, spawner.fallback_image, spawner.extra_labels) == \
        (77, "small", "lab/img:1", {"a": "b"})
    assert spawner.config_dir == str(tmp_path / "config")


def test_spawner_options_carry_the_settings_help_and_default():
    defaults = Settings()
    spawner = spawner_for(Config())
    declared = LocalhubSpawner.class_traits(setting=lambda name: name is not None)
    assert {"pids_limit", "default_profile", "fallback_image", "extra_labels", "config_dir"} <= set(declared)
    for trait_name, trait in declared.items():
        setting = trait.metadata["setting"]
        field = Settings.__dataclass_fields__[setting]
        assert trait.help == field.metadata["help"]
        value = getattr(defaults, setting)
        assert getattr(spawner, trait_name) == (str(value) if setting.endswith("_dir") else value)

"""Settings precedence, profile files and their schema, without an engine."""

from __future__ import annotations

import pytest

from localhub.config import load_settings
from localhub.errors import LocalhubError
from localhub.profiles import format_size, get_profile, load_profiles, parse_profile, parse_size

pytestmark = pytest.mark.unit


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALHUB_CONFIG_DIR", str(tmp_path))
    for var in ("LOCALHUB_PORT", "LOCALHUB_STATE_DIR", "LOCALHUB_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_defaults_are_the_labs_policies(config_dir):
    s = load_settings()
    assert (s.ip, s.port) == ("127.0.0.1", 8765)
    assert s.max_named_servers == 5 and s.server_name_max_length == 20
    assert s.idle_timeout == 2 * 3600
    assert s.state_dir.name == "localhub"


def test_file_then_environment_then_flags(config_dir, monkeypatch):
    (config_dir / "config.toml").write_text("port = 9000\nidle_timeout = 60\n")
    assert load_settings().port == 9000
    monkeypatch.setenv("LOCALHUB_PORT", "9100")
    assert load_settings().port == 9100
    assert load_settings(port=9200).port == 9200
    assert load_settings().idle_timeout == 60


@pytest.mark.parametrize("text, fragment", [
    ("prot = 1\n", "unknown setting 'prot'"),
    ("port = 'many'\n", "'port' must be int"),
    ("port = [\n", "Cannot read"),
    ("port = 70000\n", "out of range"),
    ("max_named_servers = -1\n", "'max_named_servers' must be a number of at least 0, not -1"),  # was taken
    ("pool_start_load = -0.5\n", "'pool_start_load' must be a number of at least 0"),
    ("pool_busy_load = nan\n", "'pool_busy_load' must be a number of at least 0, not nan"),
    ("max_named_servers = 1e400\n", "'max_named_servers' must be int, not inf"),  # an unexpected OverflowError
    ("idle_timeout = inf\n", "'idle_timeout' must be int, not inf"),
    ("max_named_servers = 1.5\n", "'max_named_servers' must be int, not 1.5"),  # was taken as 1
])
def test_bad_config_is_one_sentence(config_dir, text, fragment):
    (config_dir / "config.toml").write_text(text)
    with pytest.raises(LocalhubError, match=fragment):
        load_settings()


def test_state_dirs_give_distinct_instances(config_dir, tmp_path):
    a = load_settings(state_dir=tmp_path / "a")
    b = load_settings(state_dir=tmp_path / "b")
    assert a.instance != b.instance and len(a.instance) == 8


def test_shipped_default_profile_is_1cpu_2gb_2gib():
    default = load_profiles(None)["default"]
    assert (default.cpu, default.memory, default.storage) == (1.0, 2 * 10**9, 2 * 2**30)


def test_user_profiles_override_and_extend(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "gpu.toml").write_text(
        'name = "gpu"\ndescription = "with CUDA"\ncpu = 4\nmemory = "16G"\nstorage = "20Gi"\n'
        'image = "lab/cuda:1"\nidle_timeout = 600\n')
    profiles = load_profiles(tmp_path, host_cpus=8)  # a machine with 8 CPUs: 4 fit
    assert profiles["gpu"].image == "lab/cuda:1" and profiles["gpu"].idle_timeout == 600
    assert "default" in profiles


@pytest.mark.parametrize("body, fragment", [
    ('description = "x"\ncpu = 1\nmemory = "1G"\nstorage = "1Gi"\n', "'name' is a required property"),
    ('name = "x"\ndescription = "x"\ncpu = -1\nmemory = "1G"\nstorage = "1Gi"\n', "field 'cpu'"),
    ('name = "x"\ndescription = "x"\ncpu = 1\nmemory = "lots"\nstorage = "1Gi"\n', "field 'memory'"),
    ('name = "x"\ndescription = "x"\ncpu = 1\nmemory = "1G"\nstorage = "1Gi"\ngpus = 2\n', "unknown field 'gpus'"),
    ('name = "X Y"\ndescription = "x"\ncpu = 1\nmemory = "1G"\nstorage = "1Gi"\n', "field 'name'"),
    ('name = "x"\ncpu = [', "not valid TOML"),
])
def test_bad_profiles_name_file_and_field(body, fragment):
    with pytest.raises(LocalhubError) as err:
        parse_profile(body, "/home/me/.config/localhub/profiles/x.toml")
    assert "/home/me/.config/localhub/profiles/x.toml" in str(err.value)
    assert fragment in str(err.value)


def test_sizes():
    assert parse_size("2G") == 2_000_000_000
    assert parse_size("2Gi") == 2 * 2**30
    assert parse_size("512Mi") == 512 * 2**20
    assert parse_size("1.5G") == 1_500_000_000
    assert format_size(2 * 2**30) == "2.0 GiB"
    with pytest.raises(ValueError):
        parse_size("two gigs")


BASE = 'name = "x"\ndescription = "x"\n'


@pytest.mark.parametrize("body, field, fragment", [
    ('cpu = 1\nmemory = "0"\nstorage = "1Gi"\n', "memory", "no limit at all"),
    ('cpu = 1\nmemory = "1K"\nstorage = "1Gi"\n', "memory", "too little"),
    ('cpu = 1\nmemory = "1G"\nstorage = "0"\n', "storage", "refuse every start"),
    ('cpu = 64\nmemory = "1G"\nstorage = "1Gi"\n', "cpu", "more than this machine has (2)"),
    ('cpu = 0.001\nmemory = "1G"\nstorage = "1Gi"\n', "cpu", "smallest share"),
])
def test_profiles_the_engine_cannot_honour_are_refused(body, field, fragment):
    with pytest.raises(LocalhubError) as err:
        parse_profile(BASE + body, "/p/x.toml", host_cpus=2)
    assert f"/p/x.toml: field '{field}'" in str(err.value) and fragment in str(err.value)


def test_a_bad_user_profile_is_skipped_with_a_warning_and_the_others_work(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "gpu.toml").write_text(BASE.replace('"x"', '"gpu"', 1) + 'cpu = "lots"\nmemory = "2G"\n'
                                                                                      'storage = "1Gi"\n')
    (tmp_path / "profiles" / "tiny.toml").write_text('name = "tiny"\ndescription = "x"\ncpu = 1\nmemory = "1K"\n'
                                                     'storage = "1Gi"\n')
    (tmp_path / "profiles" / "good.toml").write_text('name = "good"\ndescription = "x"\ncpu = 1\nmemory = "1G"\n'
                                                     'storage = "1Gi"\n')
    (tmp_path / "profiles" / "binary.toml").write_bytes(b"\xff\xfe")
    profiles = load_profiles(tmp_path, host_cpus=2)
    assert {"default", "small", "large", "good"} <= set(profiles) and "gpu" not in profiles
    assert set(profiles.skipped) == {"gpu", "tiny", "binary"}
    assert "gpu.toml" in profiles.skipped["gpu"] and "'cpu'" in profiles.skipped["gpu"]
    with pytest.raises(LocalhubError, match=r"tiny.toml: field 'memory' is invalid.*Fix it to use profile 'tiny'"):
        get_profile(profiles, "tiny")
    with pytest.raises(LocalhubError, match="There is no profile 'nope'"):
        get_profile(profiles, "nope")


def test_a_shipped_profile_too_big_for_this_machine_is_skipped():
    profiles = load_profiles(None, host_cpus=1)
    assert "large" not in profiles and "2 CPUs is more than this machine has (1)" in profiles.skipped["large"]


def test_labels_from_the_environment_as_key_value_pairs(config_dir, monkeypatch):
    (config_dir / "config.toml").write_text('labels = {team = "a", site = "lab"}\n')
    monkeypatch.setenv("LOCALHUB_LABELS", "team=b, course=ml-101 ,empty=")
    assert load_settings().labels == {"team": "b", "course": "ml-101", "empty": ""}  # the environment wins whole


@pytest.mark.parametrize("value", ["team", "=x", "a=1,,b=2", "a=1,a=2", "x\x1b[2J=1"])
def test_malformed_labels_in_the_environment_are_one_sentence(config_dir, monkeypatch, value):
    monkeypatch.setenv("LOCALHUB_LABELS", value)
    with pytest.raises(LocalhubError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith("$LOCALHUB_LABELS:") and "key=value" in message and "\x1b" not in message

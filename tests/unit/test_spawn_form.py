"""JupyterHub's spawn page offers the profiles (hub/spawn_form.py): one card per profile with the current one
chosen, and the form's answer keeps the server's other options."""

from __future__ import annotations

import pytest
from tornado import web

from localhub.hub.spawn_form import options_from_form, profile_form
from localhub.profiles import load_profiles

pytestmark = pytest.mark.unit


@pytest.fixture
def profiles(tmp_path):
    return load_profiles(tmp_path, host_cpus=4)


def test_every_profile_is_a_card_and_the_current_one_is_checked(profiles):
    html = profile_form(profiles, "large")
    for name in ("default", "small", "large"):
        assert f'value="{name}"' in html
        assert profiles[name].description in html
    assert html.count(" checked") == 1
    assert 'value="large" checked' in html
    assert "2 CPUs" in html and "7.5 GiB memory" in html  # limits in words


def test_an_unknown_current_profile_checks_the_first_card(profiles):
    html = profile_form(profiles, "gone")
    assert html.count(" checked") == 1


def test_the_answer_keeps_a_launched_servers_environment(profiles):
    stored = {"image": "localhub-env/x:abc", "spec": "gh/org/repo/HEAD", "profile": "default"}
    assert options_from_form({"profile": ["large"]}, stored, profiles) == {**stored, "profile": "large"}
    assert options_from_form({}, stored, profiles) == stored


def test_an_unknown_profile_is_one_sentence(profiles):
    with pytest.raises(web.HTTPError) as err:
        options_from_form({"profile": ["\x1b[31mhuge"]}, {}, profiles)
    assert err.value.status_code == 400
    assert "\x1b" not in err.value.log_message and "choose one of default, large, small" in err.value.log_message


def test_names_and_descriptions_are_escaped(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "odd.toml").write_text(
        'name = "odd"\ndescription = "<script>alert(1)</script>"\ncpu = 1\nmemory = "1G"\nstorage = "1G"\n')
    html = profile_form(load_profiles(tmp_path, host_cpus=4), "odd")
    assert "<script>" not in html and "&lt;script&gt;" in html

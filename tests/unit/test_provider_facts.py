"""A provider's facts live on its class (issue 9): the launch form, the launcher and the build configuration
read them from it, so that a new provider is one file plus its registration."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def test_the_form_lists_every_provider_in_the_order_they_ask_for():
    from localhub.binder import DEFAULT_PROVIDERS
    from localhub.hub.binder_web import form_providers

    names = form_providers()
    assert sorted(names) == sorted(p.name for p in DEFAULT_PROVIDERS)
    assert names[:5] == ["gh", "gl", "git", "gist", "bb"] and names[-1] == "local"


@pytest.mark.parametrize(("provider", "repository", "ref", "spec"), [
    ("gh", "org/repo", "", "gh/org/repo/HEAD"),
    ("gl", "group/sub/repo", "main", "gl/group%2Fsub%2Frepo/main"),
    ("git", "https://example.org/r.git", "v1", "git/https%3A%2F%2Fexample.org%2Fr.git/v1"),
    ("zenodo", "10.5281/zenodo.3242074", "ignored", "zenodo/10.5281/zenodo.3242074"),
    ("ckan", "https://demo.ckan.org/dataset/x", "", "ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fx"),
])
def test_form_fields_make_the_providers_spec(provider, repository, ref, spec):
    from localhub.hub.binder_web import spec_from_form

    assert spec_from_form(provider, repository, ref, "").spec == spec


def test_no_module_outside_the_providers_keeps_a_table_of_providers():
    """A provider's facts live on its class: the launcher, the form and the build configuration name none."""
    import re
    from pathlib import Path

    import localhub
    from localhub.binder import DEFAULT_PROVIDERS

    names = "|".join(p.name for p in DEFAULT_PROVIDERS)
    quoted = rf"""["']({names})["']"""
    root = Path(localhub.__file__).parent  # the checkout's, or the installed wheel's
    for module in ("launcher.py", "hub/binder_web.py", "images/repo2docker_config.py", "images/builder.py",
                   "images/build_process.py"):
        for number, line in enumerate((root / module).read_text().splitlines(), 1):
            table = len(re.findall(quoted, line)) >= 2 or re.search(quoted + r"\s*:", line)
            test = re.search(r"provider\s*(==|!=|in|not in)\s*[\[({]?\s*" + quoted, line)
            assert not (table or test), f"{module}:{number} decides by provider name; put the fact on the Provider " \
                                        f"class: {line.strip()}"


@pytest.mark.parametrize("link, title", [
    ("https://mybinder.org/v2/gh/org/repo/main", "Starting org/repo at main"),
    ("gl/group%2Fsub%2Frepo/HEAD", "Starting group/sub/repo at HEAD"),
    ("git/https%3A%2F%2Fexample.org%2Fa%2Fb.git/v1", "Starting example.org/a/b at v1"),
    ("gist/user/abc123/HEAD", "Starting user/abc123 at HEAD"),
    ("zenodo/10.5281/zenodo.3242074", "Starting Zenodo 10.5281/zenodo.3242074"),
])
def test_a_launch_says_what_it_starts_as_mybinder_does(link, title):
    from localhub.binder import parse_link

    assert parse_link(link).title == title


@pytest.mark.parametrize("path, kind, urlpath", [
    ("index.ipynb", "file", "lab/tree/index.ipynb"),
    ("notebooks/intro.ipynb", "file", "lab/tree/notebooks/intro.ipynb"),  # a file, whatever its folder is called
    ("voila/render/intro.ipynb", "url", "voila/render/intro.ipynb"),
    ("notebooks/intro.ipynb", "", "notebooks/intro.ipynb"),  # no kind given: a URL path is recognised
    ("index.ipynb", "", "lab/tree/index.ipynb"),
])
def test_the_forms_path_is_a_file_or_a_url_as_chosen(path, kind, urlpath):
    from localhub.hub.binder_web import spec_from_form

    assert spec_from_form("gh", "org/repo", "", path, kind).urlpath == urlpath

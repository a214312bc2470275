"""Resolving DOI/record providers with only the HTTP fetch at the internet edge replaced."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from localhub.binder import ResolveError, parse_link, resolve
from localhub.binder import httpfetch
from localhub.binder.httpfetch import FetchError, Response

pytestmark = pytest.mark.unit


class FakeWeb:
    """Answers fetches from a table of url -> Response | FetchError, and records what was asked."""

    def __init__(self, answers: dict[str, Response | FetchError]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, url: str, *, timeout: float = 30.0) -> Response:
        self.asked.append(url)
        if url not in self.answers:
            raise AssertionError(f"unexpected fetch of {url}")
        answer = self.answers[url]
        if isinstance(answer, FetchError):
            raise answer
        return answer


def ok(url: str, body: Any = b"", final_url: str | None = None) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(url=final_url or url, status=200, body=data)


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch):
    def install(answers: dict[str, Response | FetchError]) -> FakeWeb:
        fake = FakeWeb(answers)
        monkeypatch.setattr(httpfetch, "fetch", fake)
        return fake

    return install


def epoch(text: str) -> str:
    return str(int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()))


# --- Zenodo -----------------------------------------------------------------------------------------------

def test_zenodo_concept_doi_resolves_to_the_latest_record(web) -> None:
    url = "https://doi.org/10.5281/zenodo.3242074"
    fake = web({url: ok(url, b"<html>", final_url="https://zenodo.org/records/3242075")})
    assert resolve(parse_link("zenodo/10.5281/zenodo.3242074")) == "3242075"
    assert fake.asked == [url]


def test_zenodo_missing_doi(web) -> None:
    url = "https://doi.org/10.5281/zenodo.1"
    web({url: FetchError(url, 404, "Not Found")})
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link("zenodo/10.5281/zenodo.1"))
    assert caught.value.kind == "repo"
    assert str(caught.value) == "Zenodo DOI 10.5281/zenodo.1 was not found (doi.org answered 404)."


def test_zenodo_without_network(web) -> None:
    url = "https://doi.org/10.5281/zenodo.3242074"
    web({url: FetchError(url, None, "[Errno -3] Temporary failure in name resolution")})
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link("https://doi.org/10.5281/zenodo.3242074"))
    assert caught.value.kind == "network"
    assert "no network" in str(caught.value)


def test_zenodo_doi_pointing_elsewhere(web) -> None:
    url = "https://doi.org/10.5281/zenodo.3242074"
    web({url: ok(url, b"", final_url="https://example.org/landing")})
    with pytest.raises(ResolveError, match="does not understand"):
        resolve(parse_link("zenodo/10.5281/zenodo.3242074"))


def test_server_error_is_one_sentence(web) -> None:
    url = "https://doi.org/10.5281/zenodo.3242074"
    web({url: FetchError(url, 503, "Service Unavailable")})
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link("zenodo/10.5281/zenodo.3242074"))
    assert str(caught.value) == "doi.org answered HTTP 503 while resolving Zenodo DOI 10.5281/zenodo.3242074."


# --- Figshare ---------------------------------------------------------------------------------------------

def test_figshare_versioned_doi_needs_no_network(web) -> None:
    fake = web({})
    assert resolve(parse_link("figshare/10.6084/m9.figshare.9782777.v1")) == "9782777.v1"
    assert fake.asked == []


def test_figshare_unversioned_doi_takes_the_latest_version(web) -> None:
    url = "https://api.figshare.com/v2/articles/9782777/versions"
    web({url: ok(url, [{"version": 1, "url": "…"}, {"version": 3}, {"version": 2}])})
    assert resolve(parse_link("https://figshare.com/articles/software/example/9782777")) == "9782777.v3"


def test_figshare_article_without_versions(web) -> None:
    url = "https://api.figshare.com/v2/articles/9782777/versions"
    web({url: ok(url, [])})
    with pytest.raises(ResolveError, match="api.figshare.com"):
        resolve(parse_link("figshare/10.6084/m9.figshare.9782777"))


def test_figshare_answer_that_is_not_json(web) -> None:
    url = "https://api.figshare.com/v2/articles/9782777/versions"
    web({url: ok(url, b"<html>oops</html>")})
    with pytest.raises(ResolveError, match="is not JSON"):
        resolve(parse_link("figshare/10.6084/m9.figshare.9782777"))


# --- HydroShare -------------------------------------------------------------------------------------------

RESOURCE = "8f7c2f0341ef4180b0dbe97f59130756"


def test_hydroshare_resolves_to_its_modification_time(web) -> None:
    url = f"https://www.hydroshare.org/hsapi/resource/{RESOURCE}/scimeta/elements"
    dates = [
        {"type": "created", "start_date": "2019-01-01T00:00:00.000000Z"},
        {"type": "modified", "start_date": "2021-03-04T05:06:07.891234Z"},
    ]
    web({url: ok(url, {"dates": dates})})
    assert resolve(parse_link(f"hydroshare/{RESOURCE}")) == f"{RESOURCE}.v{epoch('2021-03-04T05:06:07')}"


def test_hydroshare_missing_resource(web) -> None:
    url = f"https://www.hydroshare.org/hsapi/resource/{RESOURCE}/scimeta/elements"
    web({url: FetchError(url, 404, "Not Found")})
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link(f"https://www.hydroshare.org/resource/{RESOURCE}/"))
    assert caught.value.kind == "repo"


# --- Dataverse --------------------------------------------------------------------------------------------

HANDLE = "https://doi.org/api/handles/10.7910/DVN/TJCLKP"
DATASET = "https://dataverse.harvard.edu/api/datasets/:persistentId?persistentId=doi%3A10.7910%2FDVN%2FTJCLKP"


def _handle(landing: str) -> dict:
    return {"responseCode": 1, "values": [{"index": 100, "type": "HS_ADMIN", "data": {}},
                                          {"index": 1, "type": "URL", "data": {"format": "string", "value": landing}}]}


def test_dataverse_resolves_through_its_installation(web) -> None:
    landing = "https://dataverse.harvard.edu/citation?persistentId=doi:10.7910/DVN/TJCLKP"
    dataset = {"status": "OK", "data": {"id": 3035124, "identifier": "DVN/TJCLKP",
                                        "latestVersion": {"versionNumber": 3, "versionMinorNumber": 0}}}
    fake = web({HANDLE: ok(HANDLE, _handle(landing)), DATASET: ok(DATASET, dataset)})
    assert resolve(parse_link("dataverse/10.7910/DVN/TJCLKP")) == "3035124.v3.0"
    assert fake.asked == [HANDLE, DATASET]


def test_dataverse_error_status(web) -> None:
    landing = "https://dataverse.harvard.edu/citation?persistentId=doi:10.7910/DVN/TJCLKP"
    web({HANDLE: ok(HANDLE, _handle(landing)), DATASET: ok(DATASET, {"status": "ERROR", "message": "no"})})
    with pytest.raises(ResolveError, match="dataverse.harvard.edu sent an answer"):
        resolve(parse_link("dataverse/10.7910/DVN/TJCLKP"))


def test_dataverse_unknown_doi(web) -> None:
    web({HANDLE: FetchError(HANDLE, 404, "Not Found")})
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link("dataverse/10.7910/DVN/TJCLKP"))
    assert caught.value.kind == "repo"


# --- CKAN -------------------------------------------------------------------------------------------------

def test_ckan_dataset_resolves_to_its_modification_time(web) -> None:
    url = "https://demo.ckan.org/api/3/action/package_show?id=sample-dataset-1"
    web({url: ok(url, {"success": True, "result": {"metadata_modified": "2024-04-02T02:10:31.780375"}})})
    launch = parse_link("https://demo.ckan.org/dataset/sample-dataset-1")
    assert resolve(launch) == f"sample-dataset-1.v{epoch('2024-04-02T02:10:31')}"


def test_ckan_history_uses_the_activity(web) -> None:
    url = "https://data.example.org/portal/api/3/action/activity_data_show?id=act-1&object_type=package"
    web({url: ok(url, {"success": True, "result": {"metadata_modified": "2023-12-05T02:32:45.870791"}})})
    launch = parse_link("https://data.example.org/portal/dataset/turtles/history/act-1")
    assert resolve(launch) == f"turtles.v{epoch('2023-12-05T02:32:45')}"


def test_ckan_activity_query_parameter(web) -> None:
    url = "https://data.example.org/api/3/action/activity_data_show?id=act-2&object_type=package"
    web({url: ok(url, {"result": {"metadata_modified": "2023-01-01T00:00:00"}})})
    assert resolve(parse_link("https://data.example.org/dataset/turtles?activity_id=act-2")).startswith("turtles.v")


def test_ckan_missing_dataset(web) -> None:
    url = "https://demo.ckan.org/api/3/action/package_show?id=nosuch"
    web({url: FetchError(url, 404, "Not Found")})
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link("https://demo.ckan.org/dataset/nosuch"))
    assert caught.value.kind == "repo"


# --- Software Heritage -------------------------------------------------------------------------------------

def test_swhid_is_its_own_id(web) -> None:
    fake = web({})
    launch = parse_link("swh:1:dir:d198bc9d7a6bcf6db04f476d29314f157507d505;origin=https://github.com/o/r")
    assert resolve(launch) == "d198bc9d7a6bcf6db04f476d29314f157507d505"
    assert fake.asked == []

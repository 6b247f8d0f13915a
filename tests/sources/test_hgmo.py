"""hg pushlog: parsing real json-pushes data, and the push-ID range queries."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aioresponses import aioresponses

from mozci_monitor.sources.errors import NotFound, SourceError
from mozci_monitor.sources.hgmo import PushlogClient, parse_pushlog, repo_path
from mozci_monitor.sources.models import Changeset
from mozci_monitor.sources.politeness import Policy, PoliteSource

HG = "https://hg.example"


@pytest.fixture
def pushlog(reference_dir):
    return json.loads((reference_dir / "treeherder" / "hg_pushlog.json").read_text())


@pytest.fixture
async def client(clock):
    async with aiohttp.ClientSession() as session:
        gate = PoliteSource("hgmo", Policy(), clock=clock, sleep=clock.sleep)
        yield PushlogClient(session, gate, base_url=HG)


def sent_urls(mocked):
    return [str(url) for (_method, url) in mocked.requests]


def test_parse_real_pushlog(pushlog):
    pushes = parse_pushlog(pushlog)
    assert [p.id for p in pushes] == sorted(int(k) for k in pushlog["pushes"])
    first = pushes[0]
    raw = pushlog["pushes"][str(first.id)]
    assert first.date == raw["date"]
    assert first.user == raw["user"]
    assert first.changesets[0] == Changeset(
        node=raw["changesets"][0]["node"],
        author=raw["changesets"][0]["author"],
        desc=raw["changesets"][0]["desc"],
        branch=raw["changesets"][0]["branch"],
    )
    # The push's revision is its head: the last changeset pushed.
    for push in pushes:
        assert push.revision == pushlog["pushes"][str(push.id)]["changesets"][-1]["node"]
        assert len(push.revision) == 40


def test_parse_pushlog_without_full_has_bare_nodes():
    data = {
        "lastpushid": 12,
        "pushes": {
            "12": {"date": 1700000100, "user": "b@m.o", "changesets": ["c" * 40, "d" * 40]},
            "11": {"date": 1700000000, "user": "a@m.o", "changesets": ["a" * 40]},
        },
    }
    pushes = parse_pushlog(data)
    assert [p.id for p in pushes] == [11, 12]
    assert pushes[1].revision == "d" * 40
    assert pushes[1].changesets == (Changeset("c" * 40), Changeset("d" * 40))


def test_parse_pushlog_rejects_version_1():
    with pytest.raises(ValueError):
        parse_pushlog({"33268": {"date": 1, "changesets": []}})


def test_repo_paths():
    assert repo_path("autoland") == "integration/autoland"
    assert repo_path("mozilla-central") == "mozilla-central"
    assert repo_path("try") == "try"
    assert repo_path("projects/elm") == "projects/elm"


async def test_pushes_by_inclusive_id_range_with_full(client, pushlog):
    url = f"{HG}/integration/autoland/json-pushes?version=2&startID=33267&endID=33277&full=1"
    with aioresponses() as m:
        m.get(url, payload=pushlog)
        pushes = await client.pushes("autoland", 33268, 33277, full=True)
        assert len(sent_urls(m)) == 1
    assert pushes[0].id == 33268
    assert pushes[0].changesets[0].desc


async def test_pushes_without_full_does_not_ask_for_it(client):
    url = f"{HG}/mozilla-central/json-pushes?version=2&startID=9&endID=10"
    with aioresponses() as m:
        m.get(url, payload={"lastpushid": 10, "pushes": {}})
        assert await client.pushes("mozilla-central", 10, 10) == []
        assert "full" not in sent_urls(m)[0]


async def test_empty_range_asks_nothing(client):
    with aioresponses() as m:
        assert await client.pushes("try", 5, 4) == []
        assert m.requests == {}


async def test_push_for_revision(client):
    rev = "5371262398a0c4d194832052ca932c1e44279758"
    url = f"{HG}/integration/autoland/json-pushes?version=2&changeset={rev}"
    with aioresponses() as m:
        m.get(
            url,
            payload={
                "lastpushid": 40000,
                "pushes": {"33269": {"date": 1378287663, "user": "j@m.o", "changesets": [rev]}},
            },
        )
        assert await client.push_id("autoland", rev) == 33269


async def test_unknown_revision_is_not_found(client):
    with aioresponses() as m:
        m.get(
            f"{HG}/try/json-pushes?version=2&changeset=ffff",
            payload={"lastpushid": 3, "pushes": {}},
        )
        with pytest.raises(NotFound, match="ffff"):
            await client.push_for_revision("try", "ffff")


async def test_hg_404_for_unknown_revision_is_not_found(client):
    # hg.mozilla.org answers 404 ("unknown revision") for a changeset it never saw.
    with aioresponses() as m:
        m.get(f"{HG}/try/json-pushes?version=2&changeset=0000", status=404)
        with pytest.raises(NotFound):
            await client.push_for_revision("try", "0000")


async def test_last_push_id(client):
    with aioresponses() as m:
        m.get(
            f"{HG}/integration/autoland/json-pushes?version=2&startID=0&endID=0",
            payload={"lastpushid": 187654, "pushes": {}},
        )
        assert await client.last_push_id("autoland") == 187654


async def test_malformed_answer_is_a_source_error(client):
    with aioresponses() as m:
        m.get(f"{HG}/try/json-pushes?version=2&startID=0&endID=1", payload=["nope"])
        with pytest.raises(SourceError, match="unexpected pushlog answer"):
            await client.pushes("try", 1, 1)

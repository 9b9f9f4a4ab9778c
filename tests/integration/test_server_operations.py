"""Server operations over real sockets: env-var lost update, duplicate domains
from two orgs at once, DNS verification against a local DNS server, and state
that survives a restart (and a SIGKILL) of `python -m local run`."""

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dnslib import CNAME, QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from tests.local_platform import RunningPlatform, free_port, local_platform

pytestmark = pytest.mark.integration


def _project(platform: RunningPlatform, name: str, headers: dict | None = None) -> str:
    response = httpx.post(
        f"{platform.url}/v1/server/projects",
        headers=headers or platform.headers(),
        json={"name": name},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["project"]["id"])


def _second_org(platform: RunningPlatform) -> dict[str, str]:
    created = httpx.post(
        f"{platform.url}/v1/auth/orgs",
        headers=platform.headers(),
        json={"name": "Second org"},
        timeout=30,
    )
    assert created.status_code in (200, 201), created.text
    payload = created.json()
    org = payload.get("organization") or payload.get("org") or payload
    return {**platform.headers(), "x-organization-id": str(org["id"])}


def test_two_env_writers_with_one_etag_lose_nothing(running: RunningPlatform) -> None:
    project_id = _project(running, "env race")
    url = f"{running.url}/v1/server/projects/{project_id}/env"
    tag = httpx.get(url, headers=running.headers(), timeout=30).headers["ETag"]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def write(name: str) -> None:
        barrier.wait()
        response = httpx.put(
            url,
            headers={**running.headers(), "If-Match": tag},
            json={"envVars": {name: "1"}},
            timeout=30,
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in ("ONE", "TWO")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 412]
    final = httpx.get(url, headers=running.headers(), timeout=30).json()["envVars"]
    assert len(final) == 1


def test_one_domain_claimed_by_two_orgs_at_once(running: RunningPlatform) -> None:
    other = _second_org(running)
    first = _project(running, "domain one")
    second = _project(running, "domain two", other)
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def claim(project_id: str, headers: dict[str, str]) -> None:
        barrier.wait()
        response = httpx.post(
            f"{running.url}/v1/server/projects/{project_id}/domains",
            headers=headers,
            json={"domain": "Shop.Bücher.de"},
            timeout=30,
        )
        codes.append(response.status_code)

    threads = [
        threading.Thread(target=claim, args=(first, running.headers())),
        threading.Thread(target=claim, args=(second, other)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 409]


class Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], str] = {}

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
        value = self.records.get((name, kind))
        if value is not None:
            rdata = TXT(value) if kind == "TXT" else CNAME(value + ".")
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=5))
        return reply


@pytest.fixture
def dns_zone() -> Iterator[tuple[Zone, int]]:
    zone = Zone()
    port = free_port()
    server = DNSServer(zone, port=port, address="127.0.0.1")
    server.start_thread()
    try:
        yield zone, port
    finally:
        server.stop()


def test_domains_are_verified_by_dns(
    dns_zone: tuple[Zone, int], tmp_path: Path
) -> None:
    zone, port = dns_zone
    extra = {
        "PLATFORM_DNS_RESOLVER": f"127.0.0.1:{port}",
        "PLATFORM_CLEANUP_SECONDS": "1",
        "PLATFORM_DOMAIN_CHECK_SECONDS": "1",
    }
    with local_platform(tmp_path / "state", extra) as platform:
        project_id = _project(platform, "dns app")
        base = f"{platform.url}/v1/server/projects/{project_id}/domains"
        added = httpx.post(
            base,
            headers=platform.headers(),
            json={"domain": "app.shop.org"},
            timeout=30,
        ).json()
        records = {r["type"]: r for r in added["dnsRecords"]}
        assert added["status"] == "pending"
        zone.records[("app.shop.org", "CNAME")] = records["CNAME"]["requiredValue"]
        zone.records[(records["TXT"]["hostlabel"], "TXT")] = records["TXT"][
            "requiredValue"
        ]
        for _ in range(60):
            listed = httpx.get(base, headers=platform.headers(), timeout=30).json()
            if listed["domains"][0]["status"] == "verified":
                break
            threading.Event().wait(0.5)
        assert listed["domains"][0]["status"] == "verified", listed
        assert listed["domains"][0]["checkedAt"]
        bad = httpx.post(
            base, headers=platform.headers(), json={"domain": "-bad-.org"}, timeout=30
        )
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "domain"


def test_state_survives_restart_and_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state"
    extra = {"PLATFORM_SNAPSHOT_SECONDS": "1"}
    with local_platform(state, extra) as platform:
        project_id = _project(platform, "lasting")
        url = f"{platform.url}/v1/server/projects/{project_id}/env"
        put = httpx.put(
            url,
            headers=platform.headers(),
            json={"envVars": {"KEEP": "me"}},
            timeout=30,
        )
        assert put.status_code == 200
    with local_platform(state, extra) as platform:
        assert any("Restored saved state" in line for line in platform.output)
        url = f"{platform.url}/v1/server/projects/{project_id}/env"
        got = httpx.get(url, headers=platform.headers(), timeout=30)
        assert got.status_code == 200, got.text
        assert got.json()["envVars"] == {"KEEP": "me"}
        httpx.put(
            url, headers=platform.headers(), json={"envVars": {"KEEP": "2"}}, timeout=30
        )
        threading.Event().wait(3)  # past a periodic snapshot
        pid = _platform_pid(platform)
        os.kill(pid, signal.SIGKILL)
    with local_platform(state, extra) as platform:
        url = f"{platform.url}/v1/server/projects/{project_id}/env"
        got = httpx.get(url, headers=platform.headers(), timeout=30)
        assert got.json()["envVars"] == {"KEEP": "2"}
    (state / "snapshot" / "manifest.json").write_text("{not json")
    with local_platform(state, extra) as platform:
        assert any("starting clean" in line for line in platform.output)
        listed = httpx.get(
            f"{platform.url}/v1/server/projects", headers=platform.headers(), timeout=30
        )
        assert listed.status_code == 200


def _platform_pid(platform: RunningPlatform) -> int:
    for line in platform.output:
        if line.startswith("Platform pid "):
            return int(line.split()[-1])
    raise AssertionError("the platform did not print its pid")

"""Account races with real concurrency: threads against the running platform."""

import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.integration
SECRET = re.compile(r"mpt_(?:tok|inv|at_ses|rt_ses)_[a-z2-7]{16}_[A-Za-z0-9_-]{20,}")


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, fn: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        results[index] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


class Org:
    """A fresh organization of the running platform's admin."""

    def __init__(self, running: RunningPlatform, name: str) -> None:
        self.url = running.url
        created = httpx.post(
            f"{self.url}/v1/auth/orgs",
            headers=running.headers(),
            json={"name": name},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        self.id = created.json()["organization"]["id"]
        self.admin = {**running.headers(), "x-organization-id": self.id}

    def invite(self, email: str, role: str = "member") -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/org/members/invitations",
            headers=self.admin,
            json={"email": email, "role": role},
            timeout=30,
        )

    def secret_of(self, invitation_id: str) -> str:
        outbox = httpx.get(f"{self.url}/v1/org/outbox", headers=self.admin, timeout=30)
        for message in outbox.json()["messages"]:
            if message["invitationId"] == invitation_id:
                assert message["link"].startswith(self.url)
                return parse_qs(urlsplit(message["link"]).query)["token"][0]
        raise AssertionError(invitation_id)

    def accept(self, secret: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/invitations/accept",
            json={"token": secret, "password": "race password 1"},
            timeout=60,
        )

    def join(self, email: str, role: str) -> dict[str, str]:
        invitation = self.invite(email, role).json()["invitation"]
        accepted = self.accept(self.secret_of(invitation["id"]))
        assert accepted.status_code == 201, accepted.text
        body = accepted.json()
        return {
            "Authorization": f"Bearer {body['secret']}",
            "x-organization-id": self.id,
            "user": body["member"]["userId"],
        }

    def members(self) -> list[dict]:
        listed = httpx.get(f"{self.url}/v1/org/members", headers=self.admin, timeout=30)
        return list(listed.json()["members"])


def headers_of(caller: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in caller.items() if k != "user"}


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    running: RunningPlatform,
) -> None:
    for round_ in range(3):
        org = Org(running, f"demote race {round_}")
        first = org.join(f"first{round_}@example.com", "admin")
        second = org.join(f"second{round_}@example.com", "admin")
        # The platform admin steps down first, leaving exactly two admins.
        me = httpx.get(f"{org.url}/v1/auth/me", headers=org.admin).json()["user"]["id"]
        stepped = httpx.patch(
            f"{org.url}/v1/org/members/{me}",
            headers=headers_of(first),
            json={"role": "member"},
        )
        assert stepped.status_code == 200, stepped.text
        results = at_once(
            lambda f=first, s=second, url=org.url: httpx.patch(
                f"{url}/v1/org/members/{s['user']}",
                headers=headers_of(f),
                json={"role": "member"},
                timeout=60,
            ),
            lambda f=first, s=second, url=org.url: httpx.patch(
                f"{url}/v1/org/members/{f['user']}",
                headers=headers_of(s),
                json={"role": "member"},
                timeout=60,
            ),
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses[0] == 200 and statuses[1] in (403, 409), statuses
        admins = [m for m in org.members() if m["role"] == "admin"]
        assert len(admins) == 1, admins


def test_accepting_one_invitation_twice_at_once_joins_once(
    running: RunningPlatform,
) -> None:
    org = Org(running, "accept race")
    invitation = org.invite("double@example.com").json()["invitation"]
    secret = org.secret_of(invitation["id"])
    results = at_once(lambda: org.accept(secret), lambda: org.accept(secret))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409], [r.text for r in results]
    joined = [m for m in org.members() if m["email"] == "double@example.com"]
    assert len(joined) == 1
    tokens = httpx.get(f"{org.url}/v1/auth/tokens", headers=org.admin).json()
    owned = [t for t in tokens["tokens"] if t["name"] == "first token"]
    assert len(owned) == 1


def test_inviting_two_spellings_of_one_address_at_once_makes_one_invitation(
    running: RunningPlatform,
) -> None:
    org = Org(running, "invite race")
    results = at_once(lambda: org.invite("A@x.com"), lambda: org.invite("a@x.com"))
    assert sorted(r.status_code for r in results) == [200, 201]
    ids = {r.json()["invitation"]["id"] for r in results}
    assert len(ids) == 1
    listed = httpx.get(
        f"{org.url}/v1/org/members/invitations", headers=org.admin
    ).json()["invitations"]
    assert [i["email"] for i in listed] == ["a@x.com"]
    outbox = httpx.get(f"{org.url}/v1/org/outbox", headers=org.admin).json()
    assert len(outbox["messages"]) == 1


def test_the_platform_logged_no_secret(running: RunningPlatform) -> None:
    Org(running, "log check").invite("logged@example.com")
    leaked = [line for line in running.output if SECRET.search(line)]
    # The startup banner prints the local admin token on purpose (README).
    leaked = [line for line in leaked if not line.startswith("export ")]
    assert not leaked, leaked

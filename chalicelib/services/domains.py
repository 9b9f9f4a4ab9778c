"""Custom domains of Server projects: validated, unique platform-wide, verified
by real DNS lookups (a TXT token proves ownership, a CNAME routes traffic)."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import dns.exception
import dns.resolver
import idna
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.log import logger
from chalicelib.models import Domain, Project, UniqueClaim
from chalicelib.models.base import transaction
from chalicelib.services.clock import now
from chalicelib.settings import get_settings

PENDING = "pending"
VERIFIED = "verified"
TXT_LABEL = "_mastra-verify"
MAX_PER_PROJECT = 20
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Names nobody may claim: the platform's own, and reserved special-use names.
RESERVED_SUFFIXES = ("localhost", "local", "invalid", "test", "example", "internal")


@dataclass(frozen=True)
class Record:
    type: str
    hostlabel: str
    required_value: str


def normalize(raw: str) -> str:
    """The ASCII (punycode) form of a hostname, or a 400 saying what is wrong."""

    def bad(message: str) -> BadRequest:
        return BadRequest(
            f"{raw!r} is not a hostname you can use: {message}.",
            errors=[{"field": "domain", "message": message}],
        )

    text = raw.strip().rstrip(".").lower()
    if not text:
        raise bad("must not be empty")
    if "://" in text or "/" in text or ":" in text or "@" in text:
        raise bad("give the bare hostname, without scheme, port or path")
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise bad(f"not a valid internationalized name ({exc})") from None
    if len(ascii_name) > 253:
        raise bad("longer than 253 characters")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise bad("needs at least two labels, like app.example.com")
    for label in labels:
        if not LABEL.match(label):
            raise bad(f"label {label!r} must be 1-63 letters, digits or hyphens")
    if labels[-1].isdigit():
        raise bad("an IP address is not a domain")
    apps = get_settings().apps_domain.lower()
    if (
        labels[-1] in RESERVED_SUFFIXES
        or ascii_name == apps
        or ascii_name.endswith("." + apps)
    ):
        raise bad("that name is reserved")
    return ascii_name


def _claim_key(hostname: str) -> str:
    return f"domain#{hostname}"


def cname_target(project: Project) -> str:
    return (
        f"{project.slug}-{project.id.split('_')[-1][:8]}.{get_settings().apps_domain}"
    )


def records(domain: Domain) -> list[Record]:
    return [
        Record("CNAME", domain.hostname, domain.cname_target),
        Record("TXT", f"{TXT_LABEL}.{domain.hostname}", domain.txt_value),
    ]


def add(project: Project, raw: str) -> Domain:
    hostname = normalize(raw)
    existing = list_for_project(project)
    for domain in existing:
        if domain.hostname == hostname:
            return domain
    if len(existing) >= MAX_PER_PROJECT:
        raise BadRequest(
            f"A project can have at most {MAX_PER_PROJECT} domains.",
            errors=[{"field": "domain", "message": "too many domains"}],
        )
    stamp = now()
    domain = Domain(
        hostname,
        project_id=project.id,
        org_id=project.org_id,
        status=PENDING,
        cname_target=cname_target(project),
        txt_value=f"mastra-verify={secrets.token_urlsafe(24)}",
        next_check_at=stamp,
        created_at=stamp,
    )
    try:
        with transaction() as tx:
            tx.save(
                UniqueClaim(_claim_key(hostname), owner_id=project.id),
                condition=UniqueClaim.key.does_not_exist(),
            )
            tx.save(domain, condition=Domain.hostname.does_not_exist())
    except TransactWriteError:
        raise Conflict(
            f"{hostname} is already in use by another project on this platform."
        ) from None
    logger.info("Domain added", project_id=project.id, hostname=hostname)
    return domain


def list_for_project(project: Project) -> list[Domain]:
    return list(Domain.project_index.query(project.id))


def remove(project: Project, raw: str) -> None:
    hostname = normalize(raw)
    try:
        domain = Domain.get(hostname, consistent_read=True)
    except DoesNotExist:
        domain = None
    if domain is None or domain.project_id != project.id:
        raise NotFound(f"{hostname} is not a domain of project {project.id}.")
    with transaction() as tx:
        tx.delete(domain, condition=Domain.project_id == project.id)
        tx.delete(UniqueClaim(_claim_key(hostname)))
    logger.info("Domain removed", project_id=project.id, hostname=hostname)


def remove_all(project: Project) -> None:
    for domain in list_for_project(project):
        remove(project, domain.hostname)


def resolver() -> dns.resolver.Resolver:
    host, _, port = get_settings().dns_resolver.rpartition(":")
    found = dns.resolver.Resolver(configure=False)
    found.nameservers = [host or "127.0.0.1"]
    found.port = int(port or 53)
    found.lifetime = 3.0
    found.timeout = 1.5
    return found


def _lookup(res: dns.resolver.Resolver, name: str, kind: str) -> list[str]:
    try:
        answer = res.resolve(name, kind, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return []
    if kind == "TXT":
        return [
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rdata in answer
            if hasattr(rdata, "strings")
        ]
    return [rdata.to_text().rstrip(".").lower() for rdata in answer]


def verify(domain: Domain) -> Domain:
    """Look the records up and record the result; a DNS outage changes nothing."""
    res = resolver()
    try:
        txts = _lookup(res, f"{TXT_LABEL}.{domain.hostname}", "TXT")
        cnames = _lookup(res, domain.hostname, "CNAME")
    except dns.exception.DNSException as exc:
        logger.warning("Domain check failed", hostname=domain.hostname, reason=str(exc))
        _save_check(domain, domain.status, f"DNS lookup failed: {exc}", None)
        return domain
    problems = []
    if domain.txt_value not in txts:
        problems.append(f"TXT {TXT_LABEL}.{domain.hostname} is not {domain.txt_value}")
    if domain.cname_target not in cnames:
        problems.append(
            f"CNAME {domain.hostname} does not point at {domain.cname_target}"
        )
    if problems:
        _save_check(domain, PENDING, "; ".join(problems), None)
    else:
        _save_check(domain, VERIFIED, None, domain.verified_at or now())
    return domain


def _save_check(
    domain: Domain, status: str, error: str | None, verified_at: datetime | None
) -> None:
    stamp = now()
    interval = get_settings().domain_check_seconds
    if status == VERIFIED:
        interval *= 12
    actions: list[Action] = [
        Domain.status.set(status),
        Domain.checked_at.set(stamp),
        Domain.next_check_at.set(stamp + timedelta(seconds=interval)),
        Domain.error.set(error) if error else Domain.error.remove(),
    ]
    actions.append(
        Domain.verified_at.set(verified_at)
        if verified_at
        else Domain.verified_at.remove()
    )
    try:
        domain.update(actions=actions, condition=Domain.hostname.exists())
    except UpdateError:
        logger.warning("Domain removed during its check", hostname=domain.hostname)


def check_due(limit: int = 100) -> int:
    """Verify every domain whose next check is due; returns how many ran."""
    stamp = now()
    done = 0
    for status in (PENDING, VERIFIED):
        for domain in Domain.check_index.query(
            status, Domain.next_check_at <= stamp, limit=limit
        ):
            verify(domain)
            done += 1
    return done

"""Deploy diagnosis: reads a failed deploy's error and log, suggests fixes."""

import json
from dataclasses import asdict, dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.models import Deploy
from chalicelib.services import deploy_logs
from chalicelib.services.clock import iso, new_id, now
from chalicelib.services.lifecycle import Status

DOCS = "https://mastra.ai/docs/deployment/overview"


@dataclass(frozen=True)
class Recommendation:
    title: str
    description: str
    action: str | None
    docs_url: str | None


# (words in the error or log, recommendation), first match first.
RULES = (
    (
        ("entry file", "index.mjs"),
        Recommendation(
            "Build the project before deploying",
            "The artifact has no server entry file, so there is nothing to run.",
            "Run `mastra build` and check that .mastra/output/index.mjs exists.",
            DOCS,
        ),
    ),
    (
        ("not a valid zip", "corrupt", "escapes", "symbolic link"),
        Recommendation(
            "Upload a clean artifact",
            "The uploaded zip could not be unpacked safely.",
            "Deploy again with the Mastra CLI so it builds a fresh archive.",
            DOCS,
        ),
    ),
    (
        ("over the limit",),
        Recommendation(
            "Make the artifact smaller",
            "The artifact is larger than the platform accepts.",
            "Keep node_modules and large data files out of the build output.",
            DOCS,
        ),
    ),
    (
        ("dependency install failed", "npm err", "npm error"),
        Recommendation(
            "Fix the dependency install",
            "Installing the app's dependencies failed; the build log shows why.",
            "Check that every dependency in package.json exists and installs "
            "with `npm install --omit=dev`.",
            DOCS,
        ),
    ),
    (
        ("health check timed out", "timed out"),
        Recommendation(
            "Listen on the PORT the platform gives",
            "The app did not answer HTTP in time after it started.",
            "Make sure the server listens on process.env.PORT and starts quickly.",
            DOCS,
        ),
    ),
    (
        ("exited",),
        Recommendation(
            "Fix the crash at start",
            "The app process exited; the deploy log holds its last output.",
            "Run `node .mastra/output/index.mjs` locally with the same env vars.",
            DOCS,
        ),
    ),
)


def is_healthy(deploy: Deploy) -> bool:
    return deploy.status == Status.RUNNING.value


def load(deploy: Deploy) -> dict | None:
    if not deploy.diagnosis:
        return None
    value = json.loads(deploy.diagnosis)
    return value if isinstance(value, dict) else None


def start(deploy: Deploy) -> bool:
    """Diagnose the deploy once; False if a diagnosis already exists."""
    if deploy.diagnosis:
        return False
    record = _diagnose(deploy)
    try:
        deploy.update(
            actions=[Deploy.diagnosis.set(json.dumps(record))],
            condition=Deploy.diagnosis.does_not_exist(),
        )
    except UpdateError:
        return False
    return True


def _diagnose(deploy: Deploy) -> dict:
    stamp = iso(now())
    log_text = "\n".join(line.text for line in deploy_logs.tail(deploy.id, 200)).lower()
    error = (deploy.error or "").lower()
    found = [
        asdict(rec)
        for words, rec in RULES
        if any(word in error or word in log_text for word in words)
    ]
    summary = (
        f"Deploy ended {deploy.status}: {deploy.error}"
        if deploy.error
        else f"Deploy is {deploy.status}."
    )
    return {
        "id": new_id("dgn"),
        "deployId": deploy.id,
        "status": "COMPLETE",
        "summary": summary,
        "recommendations": [
            {
                "title": r["title"],
                "description": r["description"],
                "action": r["action"],
                "docsUrl": r["docs_url"],
            }
            for r in found[:3]
        ],
        "error": None,
        "createdAt": stamp,
        "completedAt": stamp,
    }

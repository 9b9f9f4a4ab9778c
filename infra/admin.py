"""Admin tasks against a deployed stage, with your AWS credentials.

    python -m infra.admin bootstrap --stage prod --email you@example.com

reads the stack's outputs (table prefix, bucket, key, ...), then creates
the first organization, its admin user and an API token with the same
chalicelib services the API uses. The token is printed once.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SETTING_PREFIX = "PLATFORM_"


@dataclass(frozen=True)
class Bootstrapped:
    org_id: str
    user_id: str
    token: str


def stack_name(stage: str) -> str:
    return f"mastra-{stage}"


def stack_settings(cloudformation: Any, stage: str) -> tuple[dict[str, str], str]:
    """The PLATFORM_* settings the stack gives its functions, and its base URL."""
    stacks = cloudformation.describe_stacks(StackName=stack_name(stage))["Stacks"]
    outputs = stacks[0].get("Outputs", [])
    settings = {
        o["Description"]: o["OutputValue"]
        for o in outputs
        if str(o.get("Description", "")).startswith(SETTING_PREFIX)
    }
    base_url = next(
        (o["OutputValue"] for o in outputs if o["OutputKey"] == "BaseUrl"), ""
    )
    return settings, base_url


def bootstrap(email: str, org_name: str, password: str | None = None) -> Bootstrapped:
    """Create the first org, its admin and a token (settings already set)."""
    from chalicelib.errors import Conflict
    from chalicelib.models import User
    from chalicelib.services import accounts, passwords
    from chalicelib.services.auth import mint_token

    if accounts.user_by_email(email) is not None:
        raise Conflict(
            f"A user with email {email} already exists; sign in with "
            "`mastra auth login` or create tokens from an existing admin."
        )
    if password is not None:
        passwords.check_strength(password)
    org = accounts.create_organization(org_name)
    user = accounts.create_user(email, None, None)
    accounts.add_member(org.id, user.id, "admin")
    if password is not None:
        user.update(actions=[User.password_hash.set(passwords.hash_password(password))])
    _, secret = mint_token(org.id, user.id, "bootstrap admin")
    return Bootstrapped(org.id, user.id, secret)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap", help="create the first admin and token")
    boot.add_argument("--stage", default="prod")
    boot.add_argument("--email", required=True)
    boot.add_argument("--org-name", default="Mastra")
    boot.add_argument("--region", default=None)
    boot.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a sign-in password for `mastra auth login` from stdin",
    )
    args = parser.parse_args(argv)

    import boto3

    from chalicelib.errors import ProblemError
    from chalicelib.settings import reset_settings

    session = boto3.Session(region_name=args.region)
    settings, base_url = stack_settings(session.client("cloudformation"), args.stage)
    os.environ.update(settings)
    if session.region_name:
        os.environ["PLATFORM_REGION"] = session.region_name
    reset_settings()
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        result = bootstrap(args.email, args.org_name, password)
    except ProblemError as exc:
        print(f"bootstrap refused: {exc.detail}", file=sys.stderr)
        return 1
    print("Created the first organization, admin and API token.")
    print("The token is shown only now; keep it secret.\n")
    print(f"export MASTRA_PLATFORM_API_URL={base_url}")
    print(f"export MASTRA_API_TOKEN={result.token}")
    print(f"export MASTRA_ORG_ID={result.org_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

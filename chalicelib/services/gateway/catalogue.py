"""The model catalogue and provider table, shipped as `chalicelib/data/models.json`.

Upstream base URLs and the platform's own provider keys come from the
environment, named per provider: `GATEWAY_UPSTREAM_<PROVIDER>_URL` and
`GATEWAY_PROVIDER_<PROVIDER>_API_KEY` (read on each use, never cached, so a
test or an operator can change them without a restart of the code paths).
"""

import json
import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "data" / "models.json"
MILLION = Decimal(1_000_000)
# Money is counted in whole nano-dollars, so DynamoDB ADDs stay exact.
NANOS_PER_USD = 1_000_000_000


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    default_url: str
    auth: str
    formats: tuple[str, ...]

    @property
    def env_name(self) -> str:
        return re.sub(r"[^A-Z0-9]", "_", self.id.upper())

    def base_url(self) -> str:
        override = os.environ.get(f"GATEWAY_UPSTREAM_{self.env_name}_URL", "")
        return (override.strip() or self.default_url).rstrip("/")

    def platform_key(self) -> str | None:
        value = os.environ.get(f"GATEWAY_PROVIDER_{self.env_name}_API_KEY", "")
        return value.strip() or None


@dataclass(frozen=True)
class Price:
    """USD per token."""

    input: Decimal
    output: Decimal
    cached_input: Decimal


@dataclass(frozen=True)
class CatalogueModel:
    id: str
    provider: str
    upstream_model: str
    name: str
    context_window: int
    max_output_tokens: int
    price: Price

    def cost_nanos(self, prompt: int, completion: int, cached: int) -> int:
        """Cost of a call in nano-USD, rounded up; `prompt` includes `cached`."""
        fresh = max(prompt - cached, 0)
        usd = (
            fresh * self.price.input
            + cached * self.price.cached_input
            + completion * self.price.output
        )
        return math.ceil(usd * NANOS_PER_USD)


@dataclass(frozen=True)
class Catalogue:
    providers: dict[str, Provider]
    models: dict[str, CatalogueModel]

    def model(self, model_id: str) -> CatalogueModel | None:
        return self.models.get(model_id)

    def provider(self, provider_id: str) -> Provider | None:
        return self.providers.get(provider_id)


def _per_token(per_million: object) -> Decimal:
    return Decimal(str(per_million)) / MILLION


def parse(document: dict) -> Catalogue:
    """Build a catalogue from the JSON document's `providers` and `models`."""
    providers = {
        pid: Provider(
            id=pid,
            name=spec["name"],
            default_url=spec["url"],
            auth=spec["auth"],
            formats=tuple(spec["formats"]),
        )
        for pid, spec in document["providers"].items()
    }
    models = {}
    for spec in document["models"]:
        provider, _, upstream = spec["id"].partition("/")
        if provider not in providers or not upstream:
            raise ValueError(f"catalogue model {spec['id']!r} has no known provider")
        prices = spec["pricePerMillionTokens"]
        models[spec["id"]] = CatalogueModel(
            id=spec["id"],
            provider=provider,
            upstream_model=upstream,
            name=spec["name"],
            context_window=int(spec["contextWindow"]),
            max_output_tokens=int(spec["maxOutputTokens"]),
            price=Price(
                input=_per_token(prices["input"]),
                output=_per_token(prices["output"]),
                cached_input=_per_token(prices.get("cachedInput", prices["input"])),
            ),
        )
    return Catalogue(providers, models)


@cache
def get_catalogue() -> Catalogue:
    """The shipped catalogue, read once per process."""
    return parse(json.loads(CATALOGUE_PATH.read_text()))

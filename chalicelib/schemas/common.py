"""Conventions every schema shares: camelCase on the wire, strict input."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Wire(BaseModel):
    """A response body: camelCase field names, every field always present."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Input(BaseModel):
    """A request body: camelCase names; unknown fields are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore"
    )


class Ok(Wire):
    ok: bool = True

"""pydantic request and response models, by endpoint group."""

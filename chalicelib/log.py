"""Structured JSON logging shared by every handler."""

from aws_lambda_powertools import Logger

logger = Logger(service="mastra-platform")

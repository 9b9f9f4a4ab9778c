"""Event sources: S3 upload events, deploy steps, schedules."""

UPLOAD_QUEUE_NAME = "mastra-platform-uploads"
STEP_QUEUE_NAME = "mastra-platform-steps"

"""The Mastra platform control plane: what the Lambda functions ship."""

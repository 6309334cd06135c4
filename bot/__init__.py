"""The application: the doors (Slack, HTTP, CLI) over the `rag` engine."""

"""The HTTP channel: health checks now; the REST API, webhooks and sharing later."""

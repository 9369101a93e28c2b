"""The Slack channel: slash command, modals, ticket threads and the Home tab."""

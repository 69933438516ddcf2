"""Conversations as the model sees them: chat templates and tool-call formats."""

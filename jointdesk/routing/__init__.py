"""Routing of tickets to providers, and the outbox that carries them to provider queues."""

"""Celery workers: thin tasks that call JointDesk services. Start with ``jointdesk worker``."""

"""Ratings (好差评), their follow-ups, and complaints (投诉举报)."""

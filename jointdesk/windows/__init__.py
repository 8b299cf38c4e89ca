"""The joint window: intake of one combined application."""

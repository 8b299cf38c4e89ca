"""Online self-service (网上报装): the public application page, the same in the JSON API for the
mobile app and the mini program, verified by a one-time SMS code."""

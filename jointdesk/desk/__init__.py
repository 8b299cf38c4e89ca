"""Provider desks: staff work their provider's queue."""

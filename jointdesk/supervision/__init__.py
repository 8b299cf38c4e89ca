"""Supervision of the providers by the city management bureau (监管): disclosure compliance,
correction orders, performance and the monthly evaluation."""

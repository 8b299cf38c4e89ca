"""信息公开: what each provider publishes (its catalog and its outage notices), the pages its
staff edit them on, and the public portal that shows them without a sign-in."""

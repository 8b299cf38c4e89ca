"""The aggregated case view and the applicant's public status page."""

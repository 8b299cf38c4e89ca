"""Pure rules of the policy: no Flask, no database. Web, API and workers all call these."""

"""Life after purchase, from events: cohort retention (cohorts.py), repurchase (repurchase.py),
renewal of subscriptions (renewal.py) and referral (referral.py). Each module reads the source's
events through DuckDB SQL over ``source.columns(...)``; common.py holds what they share."""

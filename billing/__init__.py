"""Billing: rate cards, exact metering of billable events, usage, and the cost preview."""

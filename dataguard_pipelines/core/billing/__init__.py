"""Monthly billing snapshots: price a company's calls and appointments with its plan, as line items
and a summary in integer cents. Rules: docs/billing.md."""

"""Mirrors of external data (Cal.com, Retell): what the vendors hold, kept by us, verified against them."""

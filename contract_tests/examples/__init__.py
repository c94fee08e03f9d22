"""Example client programs for ``evolink-contract client``: one polite, one careless."""

"""``evolink-contract server``: check any implementation of the vendor API against the spec."""

"""Contract test kit for the EvoLink video API: check servers and clients against the spec."""

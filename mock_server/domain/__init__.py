"""The simulated service: plain data and pure functions, no HTTP, no storage."""

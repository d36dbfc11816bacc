"""When to call, and placing the calls exactly once."""

"""Call recordings: fetched from the provider, verified, stored."""

"""What every API package of this project shares: HTTP, retries, pacing, typed errors."""

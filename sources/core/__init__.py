"""What every lead API package shares: the endpoint seam and the keyset sweep machinery."""

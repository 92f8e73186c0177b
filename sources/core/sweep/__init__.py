"""Keyset sweeps with checkpoints, generic over an ``EndpointSpec`` (``core/endpoint.py``)."""

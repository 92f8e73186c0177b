"""What every API simulator shares; an API's package (``simulators.mega``) adds its routes,
store and error shape.

- ``server.py``: ``ServerCore``, loopback-only threaded server, start/stop, ``/_sim/`` admin.
- ``http.py``: the request handler (one-buffer writes, keep-alive, delivery faults).
- ``api.py``: ``ApiCore``, the request pipeline (latency, faults, rate limit, errors, log).
- ``faults.py``: fault injection; ``ratelimit.py``: fixed window, headers and 429.
- ``auth.py``: bearer tokens; ``errors.py``: ``ApiError`` in the API's own error shape.
- ``idempotency.py``: ``Idempotency-Key`` replay and 409 on reuse with another body;
  ``bodies.py``: a write's JSON object body (or a 400).
- ``accounts.py``: several accounts on one server (token, tenant, data, budget, faults,
  revocation).
- ``clock.py``: wall and deterministic clocks; ``request_log.py``: request log and count.
- ``messages.py``: ``Request`` and ``Response``; ``cli.py``: the ``serve`` command line.
"""

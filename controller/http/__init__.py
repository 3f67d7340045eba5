"""Everything served over HTTP, in one aiohttp application.

The command API, access control, the console's pages and live feed, OpenAPI, voice and the
Prometheus metrics.
"""

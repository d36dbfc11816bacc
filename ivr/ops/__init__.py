"""Operations: the health check for load balancers and the metrics for Prometheus.

health.py   the database answers, the recordings store takes a write; /healthz says which failed
metrics.py  the work's figures from the database at each scrape; webhook latency per route
routes.py   the /healthz and /metrics routes, and who may scrape
"""

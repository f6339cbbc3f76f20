"""Deployment files of the platform (Docker Compose, Prometheus, Grafana) and their checker, validate.py."""

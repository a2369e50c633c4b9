"""Real services (Prometheus, exporters, ...) on loopback for integration and e2e tests."""

//! HTTP routes, metrics, health endpoints and the SSE consumer (see the HTTP issue).

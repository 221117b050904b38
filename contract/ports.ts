// Ports both halves agree on: the operator renders probes, Services and scrape annotations for them, the
// server and the router listen on them by default.

/** The model server's and the router's HTTP port: inference, health, metrics. */
export const SERVER_PORT = 8080;

/** The operator's health and metrics port. */
export const OPERATOR_HEALTH_PORT = 8081;

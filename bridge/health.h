/*
 * health.h - the bridge's small HTTP endpoint (HEALTH_PORT) for Kubernetes
 * probes and scraping: GET /healthz (alive), /readyz (connected to the
 * broker and the log takes messages), /metrics (Prometheus text format
 * counters).
 */
#ifndef SW_HEALTH_H
#define SW_HEALTH_H

struct bridge;
struct health;

/* Listens on addr:port (addr NULL or "" = all interfaces). NULL on failure (logged). */
struct health *health_start(struct bridge *b, const char *addr, int port);
void health_stop(struct health *h);

#endif

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Claim, OperationStore } from './operation-store';
import type { WorkerObserver } from './operation-worker';

/**
 * Prometheus metrics of the operations fleet, registered on the process's registry:
 * queue depth and running operations per replica (read from the shared store when scraped),
 * lease takeovers and claim latency (counted by this replica), this replica's running count.
 */
export class OperationsMetrics implements WorkerObserver {
  private readonly takeovers: Counter;
  private readonly claimLatency: Histogram;

  constructor(registry: Registry, store: OperationStore, localRunning: () => number, replicaId: string) {
    new Gauge({
      name: 'skiff_operations_queue_depth',
      help: 'Operations queued in the shared store (all replicas)',
      registers: [registry],
      async collect() {
        try {
          this.set(await store.countByState('queued'));
        } catch {
          // store unavailable: keep the last value; readiness says why
        }
      },
    });
    new Gauge({
      name: 'skiff_operations_running',
      help: 'Operations running, by the replica holding their lease (from the shared store)',
      labelNames: ['replica'] as const,
      registers: [registry],
      async collect() {
        try {
          const byReplica = await store.runningByReplica();
          this.reset();
          for (const [replica, n] of byReplica) this.set({ replica }, n);
        } catch {
          // store unavailable
        }
      },
    });
    new Gauge({
      name: 'skiff_operations_running_local',
      help: 'Operations this replica is running now',
      labelNames: ['replica'] as const,
      registers: [registry],
      collect() {
        this.set({ replica: replicaId }, localRunning());
      },
    });
    this.takeovers = new Counter({
      name: 'skiff_operations_lease_takeovers_total',
      help: 'Operations this replica took over after another replica stopped renewing their lease',
      registers: [registry],
    });
    this.claimLatency = new Histogram({
      name: 'skiff_operations_claim_latency_seconds',
      help: 'Time from submission to the first claim of an operation',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    });
  }

  claimed(claim: Claim, latencySeconds: number): void {
    if (claim.takeover) this.takeovers.inc();
    else if (claim.operation.attempts === 1) this.claimLatency.observe(latencySeconds);
  }
}

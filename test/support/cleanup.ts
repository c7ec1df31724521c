/**
 * Process-exit cleanup for test support resources (child processes, tmp dirs).
 *
 * Contract: every action registered with `onExitSync` runs at most once, synchronously,
 * when the process exits normally ('exit') or is stopped by SIGINT/SIGTERM/SIGHUP.
 * Actions must be synchronous (no awaits are possible at exit) and must not throw;
 * thrown errors are swallowed so the remaining actions still run.
 * After running the actions for a signal, the signal is re-raised with default
 * behaviour when no other listener handles it, so the process still terminates.
 */

export type SyncCleanup = () => void;

const actions = new Set<SyncCleanup>();
let installed = false;

function runAll(): void {
  const pending = [...actions];
  actions.clear();
  for (const action of pending.reverse()) {
    try {
      action();
    } catch {
      // best effort: keep cleaning up the rest
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      runAll();
      process.removeListener(signal, handler);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/** Registers `action` to run at process exit; returns a function that unregisters it. */
export function onExitSync(action: SyncCleanup): () => void {
  install();
  actions.add(action);
  return () => {
    actions.delete(action);
  };
}

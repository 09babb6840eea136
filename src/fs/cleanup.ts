/**
 * Cleanups to run if the process exits early (SIGINT/SIGTERM handlers call
 * process.exit): locks are released and temp files holding secrets removed.
 * SIGKILL leaves them to the next run's sweep and stale-lock recovery.
 */
const cleanups = new Set<() => void>();
let exitHookInstalled = false;

export function registerCleanup(f: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of [...cleanups]) {
        try {
          c();
        } catch {
          /* exiting anyway */
        }
      }
    });
  }
  cleanups.add(f);
  return () => {
    cleanups.delete(f);
  };
}

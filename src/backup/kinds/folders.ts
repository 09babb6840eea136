/**
 * The folders components are named under (`postgres`, `redis`…), each
 * once, in the order of the registry (`index.ts`, which holds this list to
 * its kinds). Plain names, so that checking a component name loads no kind.
 */
export const FOLDERS: readonly string[] = ['postgres', 'postgres-base', 'postgres-wal', 'redis', 'files', 'k8s', 'exec', 'bucket'];

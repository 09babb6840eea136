import { resolve } from 'node:path';
import { resolvedPath } from '../fs/resolved.js';
import type { GuardTarget } from '../k8s/policy.js';

/**
 * Restore targets as the restore policy sees them (`k8s/policy.ts`): a
 * path is matched as given and with its links resolved (the deepest part
 * that exists, the rest appended), so a link into a protected folder is
 * protected too.
 */
export function pathTarget(type: 'folders' | 'redis' | 'file', path: string): GuardTarget {
  const abs = resolve(path);
  return { type, name: abs, forms: [...new Set([abs, resolvedPath(abs)])] };
}

/** A bucket, or a prefix in one, on an rclone remote: `remote:bucket/prefix`, without a trailing slash. */
export function bucketTarget(spec: string): GuardTarget {
  const name = spec.replace(/\/+$/, '');
  return { type: 'buckets', name, forms: [name] };
}

import { createHmac, randomBytes } from 'node:crypto';
import type { ErrorCode } from '../errors/codes.js';
import { VaultError } from '../errors/errors.js';
import type { SecretsPort } from './cluster.js';
import type { DesiredSecret } from './plan.js';
import { pool } from './restore.js';
import { checkClientSafe } from './secret.js';

export type Drift = 'in-sync' | 'differs' | 'missing' | 'error';

export interface CompareResult {
  namespace: string;
  name: string;
  status: Drift;
  /** Key names only: never values, never hashes of values. */
  changed: string[];
  missingKeys: string[];
  typeDiffers?: { vault: string; cluster: string };
  error?: string;
  /** The error's condition (k8s-timeout, k8s-unreachable, k8s-forbidden…), where it has one. */
  code?: ErrorCode;
}

/**
 * Which Secrets in the cluster hold exactly the vault's current values. Values
 * are compared through an HMAC under a key made for this run (so not even a
 * hash of a value is kept or shown); only key names are reported.
 */
export async function compareWithCluster(port: SecretsPort, desired: DesiredSecret[], concurrency = 8): Promise<CompareResult[]> {
  for (const d of desired) checkClientSafe(d.obj);
  const runKey = randomBytes(32);
  const h = (b64: string | undefined) => (b64 === undefined ? undefined : createHmac('sha256', runKey).update(Buffer.from(b64, 'base64')).digest('hex'));
  return pool(desired, concurrency, async (d) => {
    const r: CompareResult = { namespace: d.obj.metadata.namespace!, name: d.obj.metadata.name, status: 'in-sync', changed: [], missingKeys: [] };
    let live;
    try {
      live = await port.getSecret(r.namespace, r.name);
    } catch (e) {
      const code = e instanceof VaultError ? e.code : undefined;
      return { ...r, status: 'error' as const, error: (e as Error).message, ...(code ? { code } : {}) };
    }
    if (!live) return { ...r, status: 'missing' as const, missingKeys: Object.keys(d.obj.data ?? {}) };
    for (const [k, v] of Object.entries(d.obj.data ?? {})) {
      const have = live.data?.[k];
      if (have === undefined) r.missingKeys.push(k);
      else if (h(have) !== h(v)) r.changed.push(k);
    }
    if ((live.type ?? 'Opaque') !== (d.obj.type ?? 'Opaque')) r.typeDiffers = { vault: d.obj.type ?? 'Opaque', cluster: live.type ?? 'Opaque' };
    if (r.changed.length || r.missingKeys.length || r.typeDiffers) r.status = 'differs';
    return r;
  });
}

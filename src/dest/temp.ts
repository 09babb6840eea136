import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Temp names of files streamed into a destination:
 * `.<file>.<pid>.<hex>.h<host>.tmp`, the host a short hash of its name, so
 * that a sweep judges only the processes of its own host (a folder may be
 * shared between hosts). Older names (`.<file>.<pid>.<hex>.tmp`, as the
 * vault's own atomic writes use) carry no host.
 */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
export const TEMP = /^\.(.+)\.(\d+)\.[0-9a-f]{8}(?:\.h([0-9a-f]{8}))?\.tmp$/;
export const DAY = 86_400_000;
export const tempName = (name: string) => `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.h${HOST_TAG}.tmp`;

import type * as NodeCrypto from 'node:crypto';

/**
 * Random hex for temp and marker names. node:crypto is fetched when first
 * called, not imported: every command imports these modules, and loading
 * node:crypto at start-up costs milliseconds on each run, `--help` included.
 */
export const randomHex = (bytes: number): string => (process.getBuiltinModule('node:crypto') as typeof NodeCrypto).randomBytes(bytes).toString('hex');

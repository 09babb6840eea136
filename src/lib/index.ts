/** The public library surface of vault-tool. */
export * from '../vault/index.js';
export * from '../escrow/index.js';

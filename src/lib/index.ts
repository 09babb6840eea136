/** The public library surface of vault-tool. */
export * from '../vault/index.js';
export { run } from '../cli/main.js';

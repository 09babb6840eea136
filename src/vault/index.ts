/** The vault library: everything the CLI and the other modules use. */
export * from './errors.js';
export * from './document.js';
export * from './entries.js';
export * from './types.js';
export * from './keyfile.js';
export * from './container.js';
export * from './store.js';
export * from './recipients.js';
export * from './rekey.js';
export * from './dotenv.js';
export { writeFileAtomic } from './fs/atomic.js';
export { acquireLock } from './fs/lock.js';
export { readFileCapped } from './fs/read.js';
export { exists } from './fs/dirs.js';
export { encryptStream, decryptStream, X25519Identity, parseRecipient, encrypt, decrypt } from './age/index.js';
export * from './evidence.js';

/** Escrow: splitting the vault key among custodians and recovering it, with every check. */
export * from './envelope.js';
export * from './text.js';
export * from './shares.js';
export * from './manifest.js';
export * from './files.js';
export * from './sheet.js';
export * from './escrow.js';

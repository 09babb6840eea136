/**
 * The public library: open, change and check a vault. Subpaths:
 * `vault-tool/age` (the age format), `vault-tool/escrow` (custodian
 * shares), `vault-tool/k8s` (Kubernetes Secrets). Everything else is
 * internal and may change without notice.
 */
export { VaultError, isVaultError, type ErrorKind, type ErrorDetail } from '../errors/errors.js';
export {
  initVault,
  readVault,
  updateVault,
  changed,
  unchanged,
  loadKey,
  repairEvidence,
  type VaultPaths,
  type StoreOptions,
  type InitOptions,
  type OpenedVault,
  type Mutation,
  type Mutate,
} from '../vault/store.js';
export { peekVault, openVault, type VaultMeta } from '../vault/container.js';
export { fingerprint, type VaultDocument, type Entry, type EntryVersion, type ExtraRecipient } from '../vault/document.js';
export {
  putEntry,
  getVersion,
  requireEntry,
  findEntry,
  currentVersion,
  rotateEntry,
  removeEntry,
  listEntries,
  historyOf,
  type PutInput,
  type PutResult,
  type ListedEntry,
} from '../vault/entries.js';
export { ENTRY_TYPES, entryType, checkEntryName, parseRef, MAX_VALUE_BYTES, valueFromSource, type EntryType } from '../vault/types.js';
export {
  newVaultKey,
  parseKeyFile,
  openKeyFile,
  formatKeyFile,
  protectKeyFile,
  keyIdOf,
  isProtectedKeyFile,
  type VaultKey,
  type PassphraseSource,
} from '../vault/keyfile.js';
export { startRekey, confirmRekey, abortRekey, type RekeyStarted, type RekeyConfirmed } from '../vault/rekey.js';
export { addRecipient, removeRecipient, listRecipients } from '../vault/recipients.js';
export { recordEvidence, verifyEvidence, evidencePath, type EvidenceRecord, type EvidenceReport } from '../vault/evidence.js';
export { parseDotenv, formatDotenvValue } from '../vault/dotenv.js';
export { parseEnvMappings, planEnvImport, importEnv, type EnvMapping, type EnvImportItem } from '../vault/import-env.js';

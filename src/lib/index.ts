/**
 * The public library: open, change and check a vault. Subpaths:
 * `vault-tool/age` (the age format), `vault-tool/escrow` (custodian
 * shares), `vault-tool/k8s` (Kubernetes Secrets), `vault-tool/backup`
 * (data backups, their verification and restores), `vault-tool/verify`
 * (the quarterly verification), `vault-tool/drill` (the disaster-recovery
 * drill). Everything else is internal and may change without notice, and
 * nothing here skips a check the command line makes.
 *
 *   const { doc } = await readVault({ vaultFile, keyFile });
 *   await updateVault({ vaultFile, keyFile }, {}, (doc) => {
 *     putEntry(doc, { name: 'app/db-password', type: 'password', now: new Date() });
 *     return changed(undefined);
 *   });
 *
 * Every write goes through `updateVault`: it checks the copy, writes under
 * the lock and appends the evidence the change records.
 */
export { VaultError, isVaultError, type ErrorKind, type ErrorDetail, type ErrorCode } from '../errors/errors.js';
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
export { peekVault, type VaultMeta } from '../vault/container.js';
export {
  fingerprint,
  readSection,
  type VaultDocument,
  type Entry,
  type EntryVersion,
  type ExtraRecipient,
  type SectionName,
  type Section,
} from '../vault/document.js';
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
export { verifyEvidence, evidencePath, type EvidenceRecord, type EvidenceReport } from '../vault/evidence.js';
export { parseDotenv, formatDotenvValue } from '../vault/dotenv.js';
export { parseEnvMappings, planEnvImport, importEnv, type EnvMapping, type EnvImportItem } from '../vault/import-env.js';

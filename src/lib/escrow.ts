/**
 * Escrow: the vault key split among custodians with Shamir's scheme, and
 * recovered, with every check the field arithmetic does not make (checksums,
 * set, epoch, duplicates, count, the recovered key's id).
 */
export {
  splitVaultKey,
  recoverKeyFile,
  reshareWithRekey,
  parseCustodian,
  checkSplitOutput,
  escrowOf,
  idOfSecret,
  type Custodian,
  type SplitOptions,
  type SplitResult,
  type RecoverOptions,
  type RecoverResult,
  type CombineEvidence,
  type EscrowState,
} from '../escrow/escrow.js';
export {
  splitSecret,
  combineShares,
  groupSets,
  binomial,
  type SplitInput,
  type CombineResult,
  type KeyIdOf,
  type SetAside,
  type SetInfo,
  type ShareInput,
  type ShareSet,
  type UnreadableShare,
} from '../escrow/shares.js';
export { encodeEnvelope, decodeEnvelope, checkParams, shareHash, type Share } from '../escrow/envelope.js';
export { shareToText, shareFromText, shareGroups, parseShareFile, formatShareFile } from '../escrow/files.js';
export {
  signManifest,
  verifyManifest,
  parseManifest,
  checkShareInManifest,
  manifestKeyFingerprint,
  type Manifest,
  type ManifestBody,
} from '../escrow/manifest.js';
export { renderSheet, type SheetInput } from '../escrow/sheet.js';

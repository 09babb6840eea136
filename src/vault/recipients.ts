import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from './document.js';
import { assertRecipient, keyIdOf } from './keyfile.js';
import { recordEvidence } from './evidence.js';

/** Extra escrow recipients: the vault is encrypted to each of them as well as to its key. */

export function addRecipient(doc: VaultDocument, recipient: string, label: string, now: Date): { keyId: string } {
  assertRecipient(recipient);
  const keyId = keyIdOf(recipient);
  if (keyId === doc.key.keyId || doc.pendingKey?.keyId === keyId) throw new VaultError('exists', `${recipient} is the vault key itself`);
  if (doc.recipients.some((r) => r.keyId === keyId)) throw new VaultError('exists', `recipient ${keyId} is already listed`);
  doc.recipients.push({ recipient, keyId, label, addedAt: now.toISOString() });
  // Whoever holds that identity can open the vault from now on: on the record.
  recordEvidence(doc, 'recipients.add', { keyId, label }, now);
  return { keyId };
}

export function removeRecipient(doc: VaultDocument, ref: string, now: Date = new Date()): { keyId: string; recipient: string } {
  if (ref === doc.key.keyId || ref === doc.key.recipient) {
    throw new VaultError('usage', 'the vault key cannot be removed from the recipients', { code: 'recipient-is-vault-key' });
  }
  const i = doc.recipients.findIndex((r) => r.keyId === ref || r.recipient === ref || r.label === ref);
  if (i < 0) throw new VaultError('not-found', `no extra recipient ${ref}`, { code: 'recipient-missing' });
  const [r] = doc.recipients.splice(i, 1);
  recordEvidence(doc, 'recipients.rm', { keyId: r!.keyId, label: r!.label }, now);
  return { keyId: r!.keyId, recipient: r!.recipient };
}

export function listRecipients(doc: VaultDocument): { keyId: string; recipient: string; label: string; role: string; addedAt: string }[] {
  return [
    { ...doc.key, label: 'vault key', role: 'vault-key', addedAt: doc.createdAt },
    ...(doc.pendingKey
      ? [
          {
            recipient: doc.pendingKey.recipient,
            keyId: doc.pendingKey.keyId,
            label: 'new vault key (rekey pending)',
            role: 'pending-key',
            addedAt: doc.pendingKey.startedAt,
          },
        ]
      : []),
    ...doc.recipients.map((r) => ({ ...r, role: 'escrow' })),
  ];
}

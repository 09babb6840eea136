import type { VaultDocument } from './document-shape.js';

/** Every key the vault is encrypted to, its own first: what `list` and `recipients` show (reading only, no evidence code). */
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

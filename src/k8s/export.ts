import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { listEntries } from '../vault/entries.js';
import { encrypt, parseRecipient } from '../age/index.js';
import { recipientsOf } from '../vault/container.js';
import { desiredSecrets, planFromVault, type RestorePlan } from './plan.js';
import { checkNamespace, checkSecretName, dict, manifestsYaml } from './secret.js';

/** The stanza type that marks an export bundle (docs/FORMAT.md, "Export bundle"). */
export const BUNDLE_STANZA = 'vault-tool-bundle';

/** Which entries to export, and optionally the one Secret to put them in. */
export interface ExportSelection {
  names: string[];
  prefix?: string;
  secret?: { name: string; namespace: string; type: string };
}

/**
 * A plan for chosen entries: the Secrets they were imported from, or one
 * Secret of the given name (key: the entry name's last segment; a tls entry
 * into kubernetes.io/tls splits into tls.crt and tls.key).
 */
export function planForEntries(doc: VaultDocument, sel: ExportSelection): RestorePlan {
  const wanted = sel.names.length ? new Set(sel.names) : undefined;
  const pick = (n: string) => (wanted ? wanted.has(n) : !sel.prefix || n.startsWith(sel.prefix));
  const chosen = listEntries(doc).filter((e) => pick(e.name));
  if (wanted) for (const n of wanted) if (!chosen.some((e) => e.name === n)) throw new VaultError('not-found', `no entry named ${n}`);
  if (!chosen.length) throw new VaultError('not-found', 'no entries to export');
  if (!sel.secret) {
    const set = new Set(chosen.map((e) => e.name));
    const plan = planFromVault(doc, (n) => set.has(n));
    const covered = new Set(plan.secrets.flatMap((s) => Object.values(s.data)));
    const loose = chosen.filter((e) => !covered.has(e.name));
    if (loose.length)
      throw new VaultError(
        'usage',
        `${loose
          .map((e) => e.name)
          .slice(0, 3)
          .join(', ')}${loose.length > 3 ? ', …' : ''} did not come from a Kubernetes Secret`,
        { code: 'k8s-export-loose' },
      );
    return plan;
  }
  const { name, namespace, type } = sel.secret;
  checkSecretName(name);
  checkNamespace(namespace);
  const data = dict();
  if (type === 'kubernetes.io/tls') {
    if (chosen.length !== 1 || chosen[0]!.type !== 'tls') throw new VaultError('usage', 'a kubernetes.io/tls Secret takes exactly one entry of type tls');
    data['tls.crt'] = `${chosen[0]!.name}#cert`;
    data['tls.key'] = `${chosen[0]!.name}#key`;
  } else {
    for (const e of chosen) {
      const key = e.name.split('/').pop()!;
      if (Object.hasOwn(data, key)) throw new VaultError('usage', `${e.name} and ${data[key]} would both be key ${key}`, 'export them into separate Secrets');
      data[key] = e.name;
    }
  }
  return { secrets: [{ namespace, name, type, labels: dict(), annotations: dict(), data }] };
}

/** The Secret manifests of a plan, as `kubectl create secret … -o yaml` writes them (no content-hash annotation). */
export function manifestsFor(doc: VaultDocument, plan: RestorePlan): { yaml: Buffer; secrets: number; keys: number } {
  const secrets = desiredSecrets(doc, plan).map((d) => d.obj);
  return { yaml: Buffer.from(manifestsYaml(secrets)), secrets: secrets.length, keys: secrets.reduce((n, s) => n + Object.keys(s.data ?? {}).length, 0) };
}

/** An age file of the manifests, encrypted to the vault key, its recipients and any extra age1… recipients. */
export function sealBundle(doc: VaultDocument, yaml: Uint8Array, extraRecipients: string[], armor: boolean): Buffer {
  const rs = [...recipientsOf(doc).map((r) => r.recipient), ...extraRecipients];
  // The marker stanza (ignored by age identities) tells an export bundle from other age files, so a forced export replaces only one.
  return encrypt(yaml, {
    recipients: rs.map((r) => parseRecipient(r)),
    armor,
    extraStanzas: [{ type: BUNDLE_STANZA, args: ['k8s'], body: new Uint8Array(0) }],
  });
}

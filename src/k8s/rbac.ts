import type { RestorePlan } from './plan.js';
import { toYaml } from './secret.js';

export type RbacPurpose = 'restore' | 'verify';

export interface RbacOptions {
  purpose: RbacPurpose;
  /** ServiceAccount namespace/name the binding is for. */
  serviceAccount: { namespace: string; name: string };
  recreate: boolean;
  createNamespaces: boolean;
  name: string;
}

/**
 * The least-privilege RBAC a restore (or a verify / diff-vault job) needs for
 * a plan: per namespace, get (and for a restore, patch) on exactly the named
 * Secrets; create on Secrets (RBAC cannot narrow create by name); delete only
 * with --recreate. Never list or watch: they return every Secret's values.
 */
export function rbacFor(plan: RestorePlan, opts: RbacOptions): string {
  const byNs = new Map<string, string[]>();
  for (const s of plan.secrets) byNs.set(s.namespace, [...(byNs.get(s.namespace) ?? []), s.name]);
  const docs: unknown[] = [];
  for (const [ns, names] of [...byNs].sort(([a], [b]) => a.localeCompare(b))) {
    const resourceNames = [...new Set(names)].sort();
    const rules: unknown[] = [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames,
        verbs: opts.purpose === 'restore' ? ['get', 'patch', ...(opts.recreate ? ['delete'] : [])] : ['get'],
      },
    ];
    if (opts.purpose === 'restore') rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['create'] });
    docs.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: opts.name, namespace: ns }, rules });
    docs.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: opts.name, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: opts.name },
      subjects: [{ kind: 'ServiceAccount', name: opts.serviceAccount.name, namespace: opts.serviceAccount.namespace }],
    });
  }
  if (opts.purpose === 'restore' && opts.createNamespaces) {
    docs.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `${opts.name}-namespaces` },
      rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'create'] }],
    });
    docs.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${opts.name}-namespaces` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${opts.name}-namespaces` },
      subjects: [{ kind: 'ServiceAccount', name: opts.serviceAccount.name, namespace: opts.serviceAccount.namespace }],
    });
  }
  const header = [
    `# Least-privilege RBAC for \`vault-tool k8s ${opts.purpose === 'restore' ? 'restore' : 'diff-vault'}\` with this plan.`,
    '# It grants no list or watch on Secrets: both return the values of every Secret in the namespace.',
    ...(opts.purpose === 'restore'
      ? [
          '# create cannot be narrowed by name in RBAC; server-side apply needs it only for Secrets that do not exist yet,',
          '# and --recreate re-creates a deleted Secret with a plain create, tried first as a dry run of that same request,',
          '# so a delete is never left without the create that follows it.',
        ]
      : []),
  ];
  return header.join('\n') + '\n' + docs.map((d) => toYaml(d)).join('---\n');
}

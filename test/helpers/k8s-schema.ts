import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

/**
 * An object checked against the Kubernetes API schema of its kind, as the
 * API server would before storing it, without a server:
 * - kubernetes-models' validators, compiled from the published OpenAPI
 *   definitions: required fields, types, formats (int32, quantities) and
 *   enumerations at every depth;
 * - no field the API does not define: @kubernetes/client-node's model types
 *   keep only the fields each definition declares, so a round trip through
 *   them that loses something found an unknown field (kubectl's
 *   --validate=strict refuses those).
 * Returns the problems found (empty: valid).
 */
const KINDS: Record<string, { new (o: never): { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Pod': Pod,
  'batch/v1/CronJob': CronJob,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

export function schemaProblems(doc: { apiVersion?: string; kind?: string }): string[] {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const Model = KINDS[key];
  if (!Model) return [`no schema for ${key}`];
  const problems: string[] = [];
  try {
    new Model(doc as never).validate();
  } catch (e) {
    problems.push(`${key}: ${(e as Error).message}`);
  }
  const type = `V1${doc.kind}`;
  const back = JSON.parse(JSON.stringify(ObjectSerializer.serialize(ObjectSerializer.deserialize(doc, type, ''), type, '')));
  for (const p of lost(doc, back)) problems.push(`${key}: ${p} is not a field of the API`);
  return problems;
}

function lost(a: unknown, b: unknown, at = ''): string[] {
  if (Array.isArray(a)) return a.flatMap((x, i) => lost(x, Array.isArray(b) ? b[i] : undefined, `${at}[${i}]`));
  if (a && typeof a === 'object') {
    const o = (b && typeof b === 'object' ? b : {}) as Record<string, unknown>;
    return Object.entries(a).flatMap(([k, v]) => (k in o ? lost(v, o[k], at ? `${at}.${k}` : k) : [at ? `${at}.${k}` : k]));
  }
  return [];
}

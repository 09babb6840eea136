/**
 * Kubernetes Secrets: import into the vault, restore by plan (checked before
 * any API call, guarded by a policy, recorded as evidence), compare by keyed
 * hash. `@kubernetes/client-node` is loaded only when a cluster is contacted.
 */
export {
  restoreFromPlan,
  compareFromPlan,
  loadPlan,
  resolveTarget,
  openCluster,
  type ClusterTarget,
  type RestoreRun,
  type RestoreOutcome,
} from '../k8s/run.js';
export { parsePlan, planYaml, planFromVault, mapNamespaces, desiredSecrets, type RestorePlan, type PlanSecret, type DesiredSecret } from '../k8s/plan.js';
export type { RestoreOptions, RestoreReport, SecretResult, OnConflict, DryRun, Action } from '../k8s/restore.js';
export { compareWithCluster, type CompareResult, type Drift } from '../k8s/compare.js';
export {
  readSecrets,
  importSecrets,
  planImport,
  applyImport,
  parseMapping,
  parseMappingFile,
  type SecretSource,
  type ImportPlan,
  type Mapping,
} from '../k8s/import.js';
export { planForEntries, manifestsFor, sealBundle, type ExportSelection } from '../k8s/export.js';
export { parseSecretManifests, cleanSecret, manifestsYaml, type SecretObject } from '../k8s/secret.js';
export { loadKubeconfig, type ResolvedKubeconfig, type KubeconfigOptions } from '../k8s/kubeconfig.js';
export { enforcePolicy, type GuardAnswers } from '../k8s/guard.js';
export { parsePolicy, type RestorePolicy } from '../k8s/policy.js';
export { rbacFor, type RbacOptions } from '../k8s/rbac.js';
export { ClusterError, type SecretsPort } from '../k8s/cluster.js';

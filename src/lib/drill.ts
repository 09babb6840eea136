/**
 * The disaster-recovery drill (`vault-tool/drill`): from custodians' shares
 * to checked data, in scratch targets the drill makes and removes (a
 * database, a folder, a namespace), each recorded in a journal before it is
 * made. `runDrill` plans every step and runs them only if every plan passed
 * (`dryRun` plans only); `teardownDrills` removes what a killed or kept
 * drill left. Recording a drill in the vault is `vault-tool drill`'s, with
 * its report.
 */
export { runDrill, drillSteps, teardownDrills, type DrillInput, type DrillResult, type DrillStep, type RestoredBackup } from '../drill/drill.js';
export { parseDrillPlan, DEFAULT_TIMEOUTS, type DrillPlan, type DrillCheck, type BackupRestore, type PitrRestore } from '../drill/plan.js';
export { drillPlanFromVault, findShareFiles } from '../drill/init.js';
export { drillMarkdown, drillHtml, rtoText } from '../drill/report.js';

import type { Command } from 'commander';
import { crontabLine, cronJob, systemdUnits, type ScheduleOptions } from '../../verify/cron.js';
import { parseVerificationPlan } from '../../verify/plan.js';
import type { Context } from '../context.js';
import { VERSION } from '../version.js';

interface ScheduleCli {
  plan: string;
  schedule: string;
  planPath?: string;
  vaultFile: string;
  keyFile: string;
  reportDir: string;
  metricsFile: string;
  passphraseEnv?: string;
}

function common(c: Command, defaults: { vault: string; key: string; reports: string; metrics: string }): Command {
  return c
    .requiredOption('--plan <file>', 'the verification plan (read here to find what the job needs)')
    .option('--schedule <cron>', 'five-field cron schedule', '0 6 1 */3 *')
    .option('--plan-path <path>', 'where the plan is where the job runs (default: as given)')
    .option('--vault-file <path>', 'secrets.vault where the job runs', defaults.vault)
    .option('--key-file <path>', 'vault.key where the job runs', defaults.key)
    .option('--report-dir <dir>', 'where the job writes its reports', defaults.reports)
    .option('--metrics-file <file>', 'the node_exporter textfile the job writes', defaults.metrics)
    .option('--passphrase-env <VAR>', 'the variable that holds the key file passphrase, if it has one');
}

const options = (o: ScheduleCli, planPath: string): ScheduleOptions => ({
  planPath,
  schedule: o.schedule,
  vaultFile: o.vaultFile,
  keyFile: o.keyFile,
  reportDir: o.reportDir,
  metricsFile: o.metricsFile,
  ...(o.passphraseEnv ? { passphraseEnv: o.passphraseEnv } : {}),
});

export default function schedule(cmd: Command, ctx: Context): void {
  const local = {
    vault: '/var/lib/vault-tool/secrets.vault',
    key: '/etc/vault-tool/vault.key',
    reports: '/var/lib/vault-tool/reports',
    metrics: '/var/lib/node_exporter/textfile_collector/vault_tool.prom',
  };
  // The plan is read as the job will read it: a plan the job would refuse is refused now, not at the first scheduled run.
  const checkPlan = async (o: ScheduleCli) => parseVerificationPlan((await ctx.readFile(o.plan, 'the verification plan')).toString('utf8'), o.plan, ctx.io.cwd);
  common(cmd.command('cron').description('print a crontab line that runs the verification'), local).action(async (o: ScheduleCli) => {
    await checkPlan(o);
    ctx.io.stdout.write(crontabLine(options(o, o.planPath ?? ctx.abs(o.plan))));
  });
  common(cmd.command('systemd').description('print a systemd service and timer that run the verification'), local).action(async (o: ScheduleCli) => {
    await checkPlan(o);
    const u = systemdUnits(options(o, o.planPath ?? ctx.abs(o.plan)));
    ctx.io.stdout.write(`# /etc/systemd/system/vault-tool-verify.service\n${u.service}\n# /etc/systemd/system/vault-tool-verify.timer\n${u.timer}`);
  });
  common(cmd.command('k8s-cronjob').description('print a Kubernetes CronJob, its ServiceAccount and a least-privilege Role per namespace'), {
    vault: '/data/secrets.vault',
    key: '/key/vault.key',
    reports: '/reports',
    metrics: '/reports/vault_tool.prom',
  })
    .option('-n, --namespace <ns>', 'namespace of the job', 'vault-tool')
    .option('--name <name>', 'name of the CronJob', 'vault-tool-verify')
    .option('--image <image>', 'container image with vault-tool', `vault-tool:${VERSION}`)
    .option('--service-account <name>', 'the ServiceAccount it runs as', 'vault-tool-verify')
    .option('--data-claim <pvc>', 'PersistentVolumeClaim holding secrets.vault and its evidence log', 'vault-tool-data')
    .option('--key-secret <secret>', 'Secret holding vault.key (and the passphrase, if any)', 'vault-tool-key')
    .option('--plan-config-map <name>', 'ConfigMap holding the plan', 'vault-tool-plan')
    .action(
      async (
        o: ScheduleCli & {
          namespace: string;
          name: string;
          image: string;
          serviceAccount: string;
          dataClaim: string;
          keySecret: string;
          planConfigMap: string;
        },
      ) => {
        const plan = await checkPlan(o);
        ctx.io.stdout.write(
          cronJob(
            {
              ...options(o, o.planPath ?? '/plan/verify.yaml'),
              name: o.name,
              namespace: o.namespace,
              image: o.image,
              serviceAccount: o.serviceAccount,
              dataClaim: o.dataClaim,
              keySecret: o.keySecret,
              planConfigMap: o.planConfigMap,
            },
            plan,
          ),
        );
      },
    );
}

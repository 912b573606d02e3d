/**
 * The local stack's cloud: the fake EC2/Batch endpoint (local/fake-ec2), whose instances boot the
 * pilot's EC2 supervisor (`gluon-pilot cloud`, as the launch template's user data runs it) and
 * whose Batch jobs run `gluon-pilot run --cloud batch`, and the environment that points the
 * provisioner function at it exactly as CDK points it at EC2 and Batch (nothing local in the
 * function itself).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceArch } from '#core/provisioning/prices.ts';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { type BootCommand, type FakeEc2, type FakeEc2Options, startFakeEc2 } from './fake-ec2/fake-ec2.ts';

/** The stage name locally (tag gluon:stage). */
export const LOCAL_STAGE = 'local';
/** The local "launch templates", one per architecture (GLUON_LAUNCH_TEMPLATES): the fake accepts these ids only. */
export const LOCAL_LAUNCH_TEMPLATES: Readonly<Record<InstanceArch, { id: string; version: string }>> = {
  x86_64: { id: 'lt-0local000000000x86', version: '$Latest' },
  aarch64: { id: 'lt-0local00000000arm64', version: '$Latest' },
};
/** The Batch job queue the local stage allows (GLUON_BATCH_JOB_QUEUES). */
export const LOCAL_BATCH_JOB_QUEUES = ['gluon-local-pilots'];
/** How often the provisioner runs locally, unless GLUON_PROVISION_INTERVAL_SEC says (every minute on AWS). */
export const DEFAULT_PROVISION_INTERVAL_SEC = 5;

/** What the fake can be told by tests (Spot capacity, notice time, prices). */
export type LocalCloudOptions = Pick<FakeEc2Options, 'spotCapacity' | 'spotNoticeSec' | 'spotPrices'>;

/** What an instance's or a Batch job's pilots need, known once the API is up. */
export interface CloudPilotContext {
  apiUrl: string;
  /** The pilot program: the command and the arguments before the subcommand. */
  launcher: string[];
  /** A gluon.pilot token for the site's pilots. */
  pilotToken(siteId: string): Promise<string>;
  /** The environment every pilot process gets (stand-in endpoints, GLUON_* settings). */
  env: Record<string, string>;
}

/** The provisioner's environment (as CDK sets it on AWS), pointing the SDK's EC2 and Batch at the fake. */
export function provisionerEnv(fakeEndpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_EC2: fakeEndpoint,
    AWS_ENDPOINT_URL_BATCH: fakeEndpoint,
    GLUON_STAGE: LOCAL_STAGE,
    GLUON_LAUNCH_TEMPLATES: JSON.stringify(LOCAL_LAUNCH_TEMPLATES),
    GLUON_BATCH_JOB_QUEUES: LOCAL_BATCH_JOB_QUEUES.join(','),
  };
}

/** The provisioner's schedule locally: GLUON_PROVISION_INTERVAL_SEC, else every 5 s. */
export function provisionIntervalSec(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env.GLUON_PROVISION_INTERVAL_SEC);
  return Number.isFinite(given) && given > 0 ? given : DEFAULT_PROVISION_INTERVAL_SEC;
}

/**
 * Starts the fake. Instances and jobs launched before `context` resolves (the API comes up after
 * the fake, whose endpoint the functions' environment names) wait for it.
 */
export async function startLocalCloud(options: {
  port: number;
  stateDir: string;
  context: Promise<CloudPilotContext>;
  cloud?: LocalCloudOptions;
}): Promise<FakeEc2> {
  const logDir = join(options.stateDir, 'logs', 'cloud');
  await mkdir(logDir, { recursive: true });
  const pilotProcess = async (siteId: string | undefined, subcommand: string[]): Promise<BootCommand> => {
    if (siteId === undefined) throw new Error(`no ${CLOUD_TAGS.site} tag: the pilots' site is unknown`);
    const context = await options.context;
    const [command, ...launcherArgs] = context.launcher as [string, ...string[]];
    return {
      command,
      args: [...launcherArgs, ...subcommand],
      env: {
        ...context.env,
        GLUON_API_URL: context.apiUrl,
        GLUON_PILOT_TOKEN: await context.pilotToken(siteId),
      },
    };
  };
  return startFakeEc2({
    ...options.cloud,
    port: options.port,
    logDir,
    launchTemplateIds: Object.values(LOCAL_LAUNCH_TEMPLATES).map((t) => t.id),
    jobQueues: LOCAL_BATCH_JOB_QUEUES,
    requiredTags: [CLOUD_TAGS.stage],
    // The launch template's user data: the supervisor; it exits when its pilots have, and the instance terminates.
    bootInstance: (instance) => pilotProcess(instance.siteId, ['cloud']),
    bootBatchJob: (job) => {
      const siteId = job.tags[CLOUD_TAGS.site] ?? job.environment.GLUON_SITE;
      return pilotProcess(siteId, ['run', '--cloud', 'batch', '--site', siteId ?? '']);
    },
  });
}

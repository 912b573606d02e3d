import type { Context } from 'aws-lambda';
import { batchClient, ec2Client } from '#adapters/aws-clients.ts';
import { SdkBatchPilots } from '#adapters/batch/batch-pilots.ts';
import { LaunchTemplatesSchema, SdkEc2Fleet } from '#adapters/ec2/ec2-fleet.ts';
import { FatalError } from '#core/errors.ts';
import { config } from '../../runtime/config.ts';
import { productionDeps } from '../../runtime/deps.ts';
import { createHandler } from './handler.ts';

/**
 * The provisioner's settings from its environment (CDK and the local stack set them). Missing or
 * malformed, every run fails naming the variable (a process that loads all functions, as the local
 * stack does, still loads this one).
 */
function provisionerHandler() {
  const c = config();
  if (c.GLUON_STAGE === undefined)
    throw new FatalError('function environment incomplete: GLUON_STAGE is required');
  let templates: unknown;
  try {
    templates = JSON.parse(c.GLUON_LAUNCH_TEMPLATES ?? '{}');
  } catch {
    throw new FatalError('GLUON_LAUNCH_TEMPLATES is not JSON');
  }
  const launchTemplates = LaunchTemplatesSchema.safeParse(templates);
  if (!launchTemplates.success)
    throw new FatalError(
      `GLUON_LAUNCH_TEMPLATES is not {"x86_64":{"id":"lt-…","version":"…"}}: ${launchTemplates.error.message}`,
    );
  const stage = c.GLUON_STAGE;
  return createHandler(
    {
      ...productionDeps(),
      ec2: new SdkEc2Fleet(ec2Client(), { stage, launchTemplates: launchTemplates.data }),
      batch: new SdkBatchPilots(batchClient()),
    },
    { stage, batchJobQueues: c.GLUON_BATCH_JOB_QUEUES },
  );
}

let built: ReturnType<typeof provisionerHandler> | undefined;
export const handler = (event: unknown, context: Context) => {
  built ??= provisionerHandler();
  return built(event, context);
};

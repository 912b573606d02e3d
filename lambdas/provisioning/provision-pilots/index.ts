import { batchClient, ec2Client } from '#adapters/aws-clients.ts';
import { SdkBatchPilots } from '#adapters/batch/batch-pilots.ts';
import { LaunchTemplatesSchema, SdkEc2Fleet } from '#adapters/ec2/ec2-fleet.ts';
import { FatalError } from '#core/errors.ts';
import { config } from '../../runtime/config.ts';
import { productionDeps } from '../../runtime/deps.ts';
import { createHandler } from './handler.ts';

const c = config();
if (c.GLUON_STAGE === undefined)
  throw new FatalError('function environment incomplete: GLUON_STAGE is required');
const templates = LaunchTemplatesSchema.safeParse(JSON.parse(c.GLUON_LAUNCH_TEMPLATES ?? '{}'));
if (!templates.success)
  throw new FatalError(
    `GLUON_LAUNCH_TEMPLATES is not {"x86_64":{"id":"lt-…","version":"…"}}: ${templates.error.message}`,
  );
const stage = c.GLUON_STAGE;
export const handler = createHandler(
  {
    ...productionDeps(),
    ec2: new SdkEc2Fleet(ec2Client(), { stage, launchTemplates: templates.data }),
    batch: new SdkBatchPilots(batchClient()),
  },
  { stage, batchJobQueues: c.GLUON_BATCH_JOB_QUEUES },
);

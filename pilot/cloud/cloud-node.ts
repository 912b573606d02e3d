/**
 * Where a cloud pilot runs, as it registers it (CloudNode): with --cloud ec2 its instance, read
 * from IMDSv2; with --cloud batch (or AWS_BATCH_JOB_ID set) its AWS Batch job.
 */
import type { CloudNode } from '#core/pilots/pilot.ts';
import type { PilotConfig } from '../config.ts';
import { ImdsClient } from './imds-client.ts';

export interface CloudSetting {
  cloud?: CloudNode;
  /** The metadata client of an EC2 pilot (to watch for interruption notices). */
  imds?: ImdsClient;
}

/** Throws ImdsError (naming the endpoint) when an EC2 pilot's IMDS does not answer. */
export async function readCloudNode(
  config: Pick<PilotConfig, 'cloud' | 'imdsEndpoint' | 'pilotsOnInstance' | 'batchId'>,
  env: NodeJS.ProcessEnv,
): Promise<CloudSetting> {
  if (config.cloud === 'ec2') {
    const imds = new ImdsClient({ endpoint: config.imdsEndpoint });
    const identity = await imds.identity();
    return { imds, cloud: { provider: 'ec2', ...identity, pilotsOnInstance: config.pilotsOnInstance } };
  }
  if (config.cloud === 'batch') {
    const batchJobId = env.AWS_BATCH_JOB_ID || config.batchId;
    return {
      cloud: {
        provider: 'batch',
        ...(batchJobId === undefined ? {} : { batchJobId: batchJobId.slice(0, 128) }),
        pilotsOnInstance: 1,
      },
    };
  }
  return {};
}

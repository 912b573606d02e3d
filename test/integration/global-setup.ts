/**
 * Starts the AWS stand-ins once for the integration tier: DynamoDB Local (in memory) and fauxqs
 * (SQS and S3), each on a free loopback port. Tests get the endpoints with
 * `inject('awsEndpoints')` (see test/support/stand-ins-env.ts); nothing global is set here.
 */
import type { TestProject } from 'vitest/node';
import { freePort, type StandIn, startDynamoDbLocal, startFauxqs } from '#local/stand-ins.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoints of the stand-ins: DynamoDB Local, and fauxqs for both SQS and S3. */
    awsEndpoints: { dynamodb: string; sqs: string; s3: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await Promise.allSettled([
    freePort().then((port) => startDynamoDbLocal({ port })),
    freePort().then((port) => startFauxqs({ port })),
  ]);
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(running.map((standIn: StandIn) => standIn.stop()));
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await stopAll();
    throw failed.reason;
  }
  const [dynamodb, fauxqs] = running as [StandIn, StandIn];
  project.provide('awsEndpoints', { dynamodb: dynamodb.endpoint, sqs: fauxqs.endpoint, s3: fauxqs.endpoint });
  return stopAll;
}

/**
 * The Z→μμ chain's check (`npm run demo -- --chain` and test/e2e/chain.test.ts): the final
 * histogram the chain's last node wrote, against the one computed here directly from the events
 * its first node generated (downloaded from S3, reconstructed, selected and filled in-process).
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { GluonClient } from '#client/gluon-client.ts';
import { type ChainHistogram, directHistogram, sameHistogram } from '../examples/zmumu/histogram.mjs';
import { type MergedHistogram, mergeHistograms } from '../examples/zmumu/merge.mjs';
import { parseJsonLines } from '../examples/zmumu/reco.mjs';
import type { TruthEvent } from '../examples/zmumu/zmumu.mjs';

export interface ChainCheck {
  /** The chain's histogram (its last node's histogram.json, or several added by merge.mjs). */
  final: ChainHistogram | MergedHistogram;
  /** The histogram computed here from the generated events. */
  direct: ChainHistogram;
  equal: boolean;
  generatedEvents: number;
  generatedFiles: number;
  histogramFiles: number;
}

/** The S3 keys of a task's finished jobs' outputs called `name`, in job order. */
export async function outputKeys(client: GluonClient, taskId: string, name: string): Promise<string[]> {
  const jobs = await client.all('listJobs', {
    params: { taskId },
    query: { limit: 1000, state: 'finished' },
  });
  return jobs
    .sort((a, b) => a.jobIndex - b.jobIndex)
    .flatMap((j) => (j.outputs ?? []).filter((o) => o.name === name).map((o) => o.key));
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (object.Body === undefined) throw new Error(`s3://${bucket}/${key} has no body`);
  return object.Body.transformToString();
}

/**
 * Compares the chain's final histogram with the direct one. `genTaskId` and `histTaskId` are the
 * tasks of the chain's generation and histogram nodes.
 */
export async function checkChainHistogram(options: {
  client: GluonClient;
  s3: S3Client;
  bucket: string;
  genTaskId: string;
  histTaskId: string;
}): Promise<ChainCheck> {
  const { client, s3, bucket } = options;
  const [eventKeys, histogramKeys] = await Promise.all([
    outputKeys(client, options.genTaskId, 'events.jsonl'),
    outputKeys(client, options.histTaskId, 'histogram.json'),
  ]);
  if (eventKeys.length === 0) throw new Error(`task ${options.genTaskId} has no events.jsonl outputs`);
  if (histogramKeys.length === 0) throw new Error(`task ${options.histTaskId} has no histogram.json outputs`);
  const truth: TruthEvent[] = [];
  for (const key of eventKeys) {
    truth.push(...(parseJsonLines(await readObject(s3, bucket, key), key) as TruthEvent[]));
  }
  const finals = await Promise.all(
    histogramKeys.map(async (key) => JSON.parse(await readObject(s3, bucket, key)) as ChainHistogram),
  );
  const final = finals.length === 1 ? (finals[0] as ChainHistogram) : mergeHistograms(finals);
  const direct = directHistogram(truth);
  return {
    final,
    direct,
    equal: sameHistogram(final, direct),
    generatedEvents: truth.length,
    generatedFiles: eventKeys.length,
    histogramFiles: histogramKeys.length,
  };
}

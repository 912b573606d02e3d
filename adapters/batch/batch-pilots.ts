/**
 * AWS Batch as the cloud provisioner needs it (core/provisioning/ports.ts BatchPilots), through the
 * real SDK client: array jobs of pilots (SubmitJob), and the site's pilot jobs counted by state
 * (ListJobs by name prefix; an array job's children from DescribeJobs' status summary). Locally
 * AWS_ENDPOINT_URL_BATCH points the client at local/fake-ec2.
 */
import {
  type BatchClient,
  DescribeJobsCommand,
  type JobSummary,
  ListJobsCommand,
  type ListJobsCommandOutput,
  SubmitJobCommand,
} from '@aws-sdk/client-batch';
import type { BatchPilots } from '#core/provisioning/ports.ts';
import { batchJobPrefix } from '#core/provisioning/provision-pilots.ts';
import { rethrowNamedSdkError } from '../sdk-errors.ts';

/** Job states before a pilot runs, and running: what counts as the site's pilots. */
const PENDING_STATES = new Set(['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING']);
const ENDED_STATES = new Set(['SUCCEEDED', 'FAILED']);
/** DescribeJobs takes at most 100 jobs. */
const DESCRIBE_MAX = 100;

export class SdkBatchPilots implements BatchPilots {
  private readonly client: BatchClient;

  constructor(client: BatchClient) {
    this.client = client;
  }

  async countPilots(siteId: string, jobQueue: string): Promise<{ pending: number; running: number }> {
    const counts = { pending: 0, running: 0 };
    const add = (status: string | undefined, n: number) => {
      if (status === 'RUNNING') counts.running += n;
      else if (status !== undefined && PENDING_STATES.has(status)) counts.pending += n;
    };
    const arrays: string[] = [];
    // With filters, Batch ignores jobStatus and lists jobs of any status: one listing.
    for (const job of await this.listJobs(siteId, jobQueue)) {
      if (job.jobId === undefined || ENDED_STATES.has(job.status ?? '')) continue;
      if (job.arrayProperties?.size !== undefined) arrays.push(job.jobId);
      else add(job.status, 1);
    }
    for (let i = 0; i < arrays.length; i += DESCRIBE_MAX) {
      try {
        const out = await this.client.send(
          new DescribeJobsCommand({ jobs: arrays.slice(i, i + DESCRIBE_MAX) }),
        );
        for (const job of out.jobs ?? [])
          for (const [status, n] of Object.entries(job.arrayProperties?.statusSummary ?? {})) add(status, n);
      } catch (error) {
        rethrowNamedSdkError(error, 'AWS Batch DescribeJobs');
      }
    }
    return counts;
  }

  private async listJobs(siteId: string, jobQueue: string): Promise<JobSummary[]> {
    const jobs: JobSummary[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const out: ListJobsCommandOutput = await this.client.send(
          new ListJobsCommand({
            jobQueue,
            filters: [{ name: 'JOB_NAME', values: [`${batchJobPrefix(siteId)}*`] }],
            ...(nextToken === undefined ? {} : { nextToken }),
          }),
        );
        jobs.push(...(out.jobSummaryList ?? []));
        nextToken = out.nextToken;
      } while (nextToken !== undefined && nextToken !== '');
    } catch (error) {
      rethrowNamedSdkError(error, 'AWS Batch ListJobs');
    }
    return jobs;
  }

  async submitArray(request: Parameters<BatchPilots['submitArray']>[0]): Promise<{ jobId: string }> {
    try {
      const out = await this.client.send(
        new SubmitJobCommand({
          jobName: request.jobName,
          jobQueue: request.jobQueue,
          jobDefinition: request.jobDefinition,
          // Batch arrays start at 2: one pilot is a plain job.
          ...(request.size >= 2 ? { arrayProperties: { size: request.size } } : {}),
          containerOverrides: {
            environment: Object.entries(request.environment).map(([name, value]) => ({ name, value })),
          },
          tags: request.tags,
        }),
      );
      return { jobId: out.jobId ?? '' };
    } catch (error) {
      rethrowNamedSdkError(error, 'AWS Batch SubmitJob');
    }
  }
}

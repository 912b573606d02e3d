/**
 * AWS Batch's REST-JSON API as @aws-sdk/client-batch sends it, for the calls the provisioner makes
 * (SubmitJob, ListJobs, DescribeJobs, TerminateJob/CancelJob). An array job of size N is N child
 * jobs; each child is a process started by `bootBatchJob` with the environment Batch gives a
 * container (AWS_BATCH_JOB_ID `<jobId>:<index>`, AWS_BATCH_JOB_ARRAY_INDEX, AWS_BATCH_JQ_NAME, and
 * containerOverrides.environment). Children go RUNNABLE → RUNNING → SUCCEEDED or FAILED when their
 * process exits; without `bootBatchJob` they stay RUNNABLE, as in a queue without compute.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type BootCommand, signalGroup, startBootProcess } from './boot-process.ts';

export type FakeBatchJobStatus =
  | 'SUBMITTED'
  | 'PENDING'
  | 'RUNNABLE'
  | 'STARTING'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED';

export interface FakeBatchJob {
  /** `<uuid>` for a job or an array parent, `<uuid>:<index>` for an array child. */
  jobId: string;
  jobArn: string;
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  status: FakeBatchJobStatus;
  statusReason?: string;
  createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  exitCode?: number | null;
  /** Array parents: the size; children: their index and parent. */
  arraySize?: number;
  arrayIndex?: number;
  arrayJobId?: string;
  /** containerOverrides.environment, and what Batch adds for the container. */
  environment: Record<string, string>;
  tags: Record<string, string>;
  pid?: number;
}

export class BatchError extends Error {
  readonly type: 'ClientException' | 'ServerException';
  constructor(type: 'ClientException' | 'ServerException', message: string) {
    super(message);
    this.type = type;
  }
}

export interface FakeBatchOptions {
  bootBatchJob?: (job: FakeBatchJob) => BootCommand | Promise<BootCommand>;
  /** The job queues that exist (names; ARNs are matched by their last part); default: any. */
  jobQueues?: string[];
  logDir: string;
  region: string;
}

const TERMINATE_GRACE_MS = 2_000;
const TERMINAL = new Set<FakeBatchJobStatus>(['SUCCEEDED', 'FAILED']);

export class FakeBatch {
  private readonly jobs = new Map<string, FakeBatchJob>();
  private readonly exits = new Map<string, Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  private readonly options: FakeBatchOptions;

  constructor(options: FakeBatchOptions) {
    this.options = options;
  }

  /** Every job, parents with their status as Batch derives it from the children. */
  list(): FakeBatchJob[] {
    return [...this.jobs.values()].map((job) => this.view(job));
  }

  handle(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (operation) {
      case 'submitjob':
        return this.submit(body);
      case 'listjobs':
        return this.listJobs(body);
      case 'describejobs':
        return this.describeJobs(body);
      case 'terminatejob':
      case 'canceljob':
        return this.terminate(body);
      default:
        throw new BatchError('ClientException', `the fake Batch endpoint does not serve ${operation}`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const job of this.jobs.values()) signalGroup(job.pid, 'SIGKILL');
    await Promise.all(this.exits.values());
  }

  private submit(body: Record<string, unknown>): Record<string, unknown> {
    const jobName = requiredString(body, 'jobName');
    const jobQueue = requiredString(body, 'jobQueue');
    const jobDefinition = requiredString(body, 'jobDefinition');
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(jobName)) {
      throw new BatchError('ClientException', 'jobName: up to 128 letters, numbers, hyphens and underscores');
    }
    const queueName = jobQueue.split('/').at(-1) as string;
    if (this.options.jobQueues !== undefined && !this.options.jobQueues.includes(queueName)) {
      throw new BatchError('ClientException', `JobQueue ${jobQueue} not found`);
    }
    const array = body.arrayProperties as { size?: unknown } | undefined;
    const size = array?.size;
    if (
      size !== undefined &&
      (typeof size !== 'number' || !Number.isInteger(size) || size < 2 || size > 10_000)
    ) {
      throw new BatchError('ClientException', 'arrayProperties.size: an array job has 2 to 10,000 children');
    }
    const overrides = body.containerOverrides as
      | { environment?: Array<{ name: string; value: string }> }
      | undefined;
    const environment = Object.fromEntries((overrides?.environment ?? []).map((e) => [e.name, e.value]));
    const tags = (body.tags ?? {}) as Record<string, string>;
    const jobId = randomUUID();
    const base = { jobName, jobQueue, jobDefinition, createdAt: Date.now(), tags };
    if (size === undefined) {
      this.start({ ...base, jobId, jobArn: this.arn(jobId), status: 'RUNNABLE', environment });
    } else {
      this.jobs.set(jobId, {
        ...base,
        jobId,
        jobArn: this.arn(jobId),
        status: 'PENDING',
        arraySize: size,
        environment,
      });
      for (let index = 0; index < size; index++) {
        const childId = `${jobId}:${index}`;
        this.start({
          ...base,
          jobId: childId,
          jobArn: this.arn(childId),
          status: 'RUNNABLE',
          arrayIndex: index,
          arrayJobId: jobId,
          environment: { ...environment, AWS_BATCH_JOB_ARRAY_INDEX: String(index) },
        });
      }
    }
    return { jobArn: this.arn(jobId), jobName, jobId };
  }

  private start(job: FakeBatchJob): void {
    job.environment = {
      ...job.environment,
      AWS_BATCH_JOB_ID: job.jobId,
      AWS_BATCH_JQ_NAME: job.jobQueue.split('/').at(-1) as string,
      AWS_BATCH_JOB_ATTEMPT: '1',
      AWS_BATCH_CE_NAME: 'gluon-fake',
    };
    this.jobs.set(job.jobId, job);
    const boot = this.options.bootBatchJob;
    if (boot === undefined) return;
    this.exits.set(job.jobId, this.run(job, boot));
  }

  /** RUNNABLE → RUNNING (the process) → SUCCEEDED or FAILED when it exits. */
  private async run(job: FakeBatchJob, boot: NonNullable<FakeBatchOptions['bootBatchJob']>): Promise<void> {
    let command: BootCommand;
    try {
      command = await boot({ ...job });
    } catch (error) {
      job.status = 'FAILED';
      job.statusReason = `CannotStartContainerError: ${(error as Error).message}`;
      return;
    }
    if (job.status !== 'RUNNABLE' || this.stopped) return;
    const logFile = join(this.options.logDir, `batch-${job.jobId.replace(':', '-')}.log`);
    const process = startBootProcess(command, job.environment, logFile);
    job.status = 'RUNNING';
    job.startedAt = Date.now();
    if (process.pid !== undefined) job.pid = process.pid;
    const { exitCode, signal } = await process.exited;
    job.stoppedAt = Date.now();
    job.exitCode = exitCode;
    if (job.status === 'RUNNING') {
      job.status = exitCode === 0 ? 'SUCCEEDED' : 'FAILED';
      if (exitCode !== 0) job.statusReason = `Essential container in task exited (${exitCode ?? signal})`;
    }
  }

  private listJobs(body: Record<string, unknown>): Record<string, unknown> {
    const filters = (body.filters ?? []) as Array<{ name: string; values: string[] }>;
    const arrayJobId = typeof body.arrayJobId === 'string' ? body.arrayJobId : undefined;
    const jobQueue = typeof body.jobQueue === 'string' ? body.jobQueue : undefined;
    if (arrayJobId === undefined && jobQueue === undefined) {
      throw new BatchError('ClientException', 'one of jobQueue, arrayJobId or multiNodeJobId is required');
    }
    // As Batch: without a status, RUNNING jobs; with filters, the status is ignored.
    const status = filters.length > 0 ? undefined : ((body.jobStatus as string | undefined) ?? 'RUNNING');
    const jobs = this.list().filter((job) => {
      if (arrayJobId !== undefined ? job.arrayJobId !== arrayJobId : job.arrayJobId !== undefined)
        return false;
      if (jobQueue !== undefined && !sameQueue(job.jobQueue, jobQueue)) return false;
      if (status !== undefined && job.status !== status) return false;
      return filters.every((filter) => matchesFilter(job, filter));
    });
    return { jobSummaryList: jobs.map(summary) };
  }

  private describeJobs(body: Record<string, unknown>): Record<string, unknown> {
    const ids = Array.isArray(body.jobs) ? (body.jobs as string[]) : [];
    const jobs = ids.flatMap((id) => {
      const job = this.jobs.get(id);
      return job === undefined ? [] : [this.detail(this.view(job))];
    });
    return { jobs };
  }

  private terminate(body: Record<string, unknown>): Record<string, unknown> {
    const jobId = requiredString(body, 'jobId');
    const reason = requiredString(body, 'reason');
    const job = this.jobs.get(jobId);
    if (job === undefined) throw new BatchError('ClientException', `Job ${jobId} not found`);
    const targets = job.arraySize === undefined ? [job] : this.children(jobId);
    for (const target of targets) {
      if (TERMINAL.has(target.status)) continue;
      target.status = 'FAILED';
      target.statusReason = reason;
      target.stoppedAt = Date.now();
      if (signalGroup(target.pid, 'SIGTERM')) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          signalGroup(target.pid, 'SIGKILL');
        }, TERMINATE_GRACE_MS);
        this.timers.add(timer);
        void this.exits.get(target.jobId)?.then(() => {
          clearTimeout(timer);
          this.timers.delete(timer);
        });
      }
    }
    return {};
  }

  private children(arrayJobId: string): FakeBatchJob[] {
    return [...this.jobs.values()].filter((j) => j.arrayJobId === arrayJobId);
  }

  /** A job as Batch shows it: an array parent is PENDING until its children have all ended. */
  private view(job: FakeBatchJob): FakeBatchJob {
    if (job.arraySize === undefined) return { ...job };
    const children = this.children(job.jobId);
    const ended = children.every((c) => TERMINAL.has(c.status));
    const status: FakeBatchJobStatus = !ended
      ? 'PENDING'
      : children.every((c) => c.status === 'SUCCEEDED')
        ? 'SUCCEEDED'
        : 'FAILED';
    return { ...job, status };
  }

  private detail(job: FakeBatchJob): Record<string, unknown> {
    const statusSummary: Record<string, number> = {};
    if (job.arraySize !== undefined) {
      for (const child of this.children(job.jobId)) {
        statusSummary[child.status] = (statusSummary[child.status] ?? 0) + 1;
      }
    }
    return {
      ...summary(job),
      jobQueue: job.jobQueue,
      jobDefinition: job.jobDefinition,
      tags: job.tags,
      ...(job.arraySize === undefined ? {} : { arrayProperties: { size: job.arraySize, statusSummary } }),
      container: {
        environment: Object.entries(job.environment).map(([name, value]) => ({ name, value })),
        ...(job.exitCode === undefined || job.exitCode === null ? {} : { exitCode: job.exitCode }),
      },
    };
  }

  private arn(jobId: string): string {
    return `arn:aws:batch:${this.options.region}:000000000000:job/${jobId}`;
  }
}

function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw new BatchError('ClientException', `${field} is required`);
  }
  return value;
}

function sameQueue(a: string, b: string): boolean {
  return a.split('/').at(-1) === b.split('/').at(-1);
}

function matchesFilter(job: FakeBatchJob, filter: { name: string; values: string[] }): boolean {
  const matches = (actual: string, wanted: string): boolean =>
    wanted.endsWith('*') ? actual.startsWith(wanted.slice(0, -1)) : actual === wanted;
  switch (filter.name) {
    case 'JOB_NAME':
      return filter.values.some((v) => matches(job.jobName, v));
    case 'JOB_DEFINITION':
      return filter.values.some((v) => matches(job.jobDefinition, v));
    case 'AFTER_CREATED_AT':
      return filter.values.every((v) => job.createdAt > Number(v));
    case 'BEFORE_CREATED_AT':
      return filter.values.every((v) => job.createdAt < Number(v));
    default:
      throw new BatchError('ClientException', `unknown filter name ${filter.name}`);
  }
}

function summary(job: FakeBatchJob): Record<string, unknown> {
  return {
    jobArn: job.jobArn,
    jobId: job.jobId,
    jobName: job.jobName,
    createdAt: job.createdAt,
    status: job.status,
    ...(job.statusReason === undefined ? {} : { statusReason: job.statusReason }),
    ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
    ...(job.stoppedAt === undefined ? {} : { stoppedAt: job.stoppedAt }),
    ...(job.arraySize !== undefined ? { arrayProperties: { size: job.arraySize } } : {}),
    ...(job.arrayIndex !== undefined ? { arrayProperties: { index: job.arrayIndex } } : {}),
    jobDefinition: job.jobDefinition,
  };
}

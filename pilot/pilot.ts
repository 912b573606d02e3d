/**
 * The pilot's main loop: register, long-poll the site queue, claim, run, report, repeat; with
 * heartbeats all along, and a graceful drain when asked to stop.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  ClaimedJob,
  CompleteRequest,
  HeartbeatRequest,
  JobRef,
  RegisterPilotResponse,
} from '#core/api.ts';
import { type JobMessage, parseJobMessage } from '#core/model/job-message.ts';
import type { PilotResources, PilotState } from '#core/model/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/model/pilot-error-codes.ts';
import { type ApiClient, ApiRequestError } from './api-client.ts';
import type { PilotConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { signalGroup } from './process-tree.ts';
import { pilotApiRequestCounts, pilotAwsRequestCounts } from './request-counter.ts';
import { runJob } from './run-job.ts';
import type { S3Storage } from './s3-storage.ts';
import { sleep } from './sleep.ts';
import type { ReceivedMessage } from './sqs-site-queue.ts';
import { PILOT_VERSION } from './version.ts';

/** No new job is taken when less than this much of the pilot's own walltime is left. */
const WALLTIME_MARGIN_SEC = 60;
/** An unfit job goes back to the queue for this long, so that other pilots get to see it. */
const UNFIT_VISIBILITY_SEC = 30;
/** Pause after a malformed message or a failing call, so a bad message or an outage is not a hot loop. */
const PAUSE_AFTER_BAD_MESSAGE_MS = 1000;
const PAUSE_AFTER_ERROR_MS = 2000;
const COMPLETE_RETRIES = 8;

export interface SiteQueue {
  receive(waitSec: number, signal?: AbortSignal): Promise<ReceivedMessage | undefined>;
  delete(receiptHandle: string): Promise<void>;
  release(receiptHandle: string, visibilitySec: number): Promise<void>;
}

export interface PilotDeps {
  api: ApiClient;
  openQueue(queueUrl: string): SiteQueue;
  openStorage(bucket: string): S3Storage;
  logger: Logger;
  now?: () => number;
}

export type PilotExitReason = 'idle' | 'max-jobs' | 'walltime' | 'stopped' | 'register-failed';

interface CurrentJob {
  ref: JobRef;
  phase: 'starting' | 'running';
  abort: AbortController;
  /** The payload's process group, once it runs. */
  pgid?: number;
}

export class Pilot {
  private readonly config: PilotConfig;
  private readonly deps: PilotDeps;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private readonly startedAt: number;
  private current: CurrentJob | undefined;
  private pilotId: string | undefined;
  private beats: Promise<void> = Promise.resolve();
  /** Why the loop ended, once it has. */
  exitReason: PilotExitReason | undefined;
  jobsRun = 0;

  constructor(config: PilotConfig, deps: PilotDeps) {
    this.config = config;
    this.deps = deps;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** Asks the pilot to stop: no new job, the running payload is ended and reported as EVICTED. */
  stop(reason: string): void {
    if (this.stopping.signal.aborted) return;
    this.logger.warn('stopping', { reason, pilotId: this.pilotId });
    this.stopping.abort();
    this.current?.abort.abort(PILOT_ERROR_CODES.EVICTED);
  }

  /** Kills the running payload's process group at once (for a second signal or a hard deadline). */
  killPayloadNow(): void {
    const pgid = this.current?.pgid;
    if (pgid !== undefined) signalGroup(pgid, 'SIGKILL');
  }

  /** Runs until idle, max jobs, walltime or stop; resolves to the process exit code. */
  async run(): Promise<number> {
    const { workRoot, created } = await this.prepareWorkRoot();
    try {
      let registration: RegisterPilotResponse;
      try {
        registration = await this.deps.api.register(
          {
            siteId: this.config.siteId,
            host: this.config.host,
            pid: process.pid,
            version: PILOT_VERSION,
            resources: this.resources(),
            ...(this.config.batchId === undefined ? {} : { batchId: this.config.batchId }),
          },
          { signal: this.stopping.signal },
        );
      } catch (error) {
        this.exitReason = this.stopping.signal.aborted ? 'stopped' : 'register-failed';
        if (this.exitReason === 'stopped') return 0;
        this.logger.error('registration failed', { error });
        return 1;
      }
      this.pilotId = registration.pilotId;
      this.logger.info('registered', {
        pilotId: registration.pilotId,
        siteId: registration.siteId,
        queueUrl: registration.queueUrl,
        heartbeatSec: registration.heartbeatSec,
      });
      const stopHeartbeats = this.startHeartbeats(
        registration.pilotId,
        Math.max(1, registration.heartbeatSec),
      );
      try {
        this.exitReason = await this.loop(registration, workRoot);
      } finally {
        await stopHeartbeats();
      }
      this.logger.info('exiting', {
        pilotId: this.pilotId,
        reason: this.exitReason,
        jobsRun: this.jobsRun,
        awsRequests: pilotAwsRequestCounts(),
        apiRequests: pilotApiRequestCounts(),
      });
      try {
        await this.deps.api.heartbeat(registration.pilotId, { state: 'exited', jobs: [] }, { retries: 1 });
      } catch (error) {
        this.logger.warn('final heartbeat failed', { error });
      }
      return 0;
    } finally {
      if (created) await rm(workRoot, { recursive: true, force: true }).catch(() => {});
    }
  }

  private async prepareWorkRoot(): Promise<{ workRoot: string; created: boolean }> {
    if (this.config.workDir !== undefined) {
      await mkdir(this.config.workDir, { recursive: true });
      return { workRoot: this.config.workDir, created: false };
    }
    return { workRoot: await mkdtemp(join(tmpdir(), 'gluon-pilot-')), created: true };
  }

  private walltimeLeftSec(): number {
    return Math.max(0, Math.floor(this.config.walltimeSec - (this.now() - this.startedAt) / 1000));
  }

  private resources(): PilotResources {
    return {
      cores: this.config.cores,
      memoryMB: this.config.memoryMB,
      diskMB: this.config.diskMB,
      walltimeLeftSec: this.walltimeLeftSec(),
    };
  }

  private async loop(registration: RegisterPilotResponse, workRoot: string): Promise<PilotExitReason> {
    const queue = this.deps.openQueue(registration.queueUrl);
    const storage = this.deps.openStorage(registration.bucket);
    const stop = this.stopping.signal;
    let lastBusyAt = this.now();
    for (;;) {
      if (stop.aborted) return 'stopped';
      if (this.config.maxJobs !== undefined && this.jobsRun >= this.config.maxJobs) return 'max-jobs';
      if (this.walltimeLeftSec() < WALLTIME_MARGIN_SEC) return 'walltime';
      const idleLeftSec = this.config.idleExitSec - (this.now() - lastBusyAt) / 1000;
      if (idleLeftSec <= 0) return 'idle';

      let message: ReceivedMessage | undefined;
      try {
        message = await queue.receive(Math.min(this.config.pollWaitSec, Math.ceil(idleLeftSec)), stop);
      } catch (error) {
        this.logger.warn('receive from the site queue failed', { error });
        await sleep(PAUSE_AFTER_ERROR_MS, stop);
        continue;
      }
      if (message === undefined) continue;

      let jobMessage: JobMessage;
      try {
        jobMessage = parseJobMessage(message.body);
      } catch (error) {
        // Never acknowledged: visible again at once, so SQS moves it to the DLQ after maxReceiveCount.
        this.logger.error('malformed job message; leaving it for the dead-letter queue', {
          messageId: message.messageId,
          receiveCount: message.receiveCount,
          body: message.body.slice(0, 500),
          error,
        });
        await this.release(queue, message, 0);
        await sleep(PAUSE_AFTER_BAD_MESSAGE_MS, stop);
        continue;
      }
      if (await this.claimAndRun(registration.pilotId, queue, storage, message, jobMessage, workRoot)) {
        lastBusyAt = this.now();
      }
    }
  }

  /** Claims the job of a message and, when it is ours, runs and reports it. True when a job ran. */
  private async claimAndRun(
    pilotId: string,
    queue: SiteQueue,
    storage: S3Storage,
    message: ReceivedMessage,
    jobMessage: JobMessage,
    workRoot: string,
  ): Promise<boolean> {
    const ref: JobRef = {
      taskId: jobMessage.taskId,
      jobIndex: jobMessage.jobIndex,
      attempt: jobMessage.attempt,
    };
    const logger = this.logger.child({
      pilotId,
      taskId: ref.taskId,
      jobIndex: ref.jobIndex,
      attempt: ref.attempt,
    });
    let claim: Awaited<ReturnType<ApiClient['claim']>>;
    try {
      claim = await this.deps.api.claim(pilotId, { ...ref, resources: this.resources() });
    } catch (error) {
      logger.warn('claim failed; the message goes back to the queue', { error });
      await this.release(queue, message, 0);
      await sleep(PAUSE_AFTER_ERROR_MS, this.stopping.signal);
      return false;
    }
    if (claim.outcome === 'unfit') {
      logger.info('job does not fit this pilot; leaving it to others', { reason: claim.reason });
      await this.release(queue, message, UNFIT_VISIBILITY_SEC);
      return false;
    }
    await this.acknowledge(queue, message, logger);
    if (claim.outcome !== 'claimed') {
      logger.info('message acknowledged without running', { outcome: claim.outcome, reason: claim.reason });
      return false;
    }
    logger.info('job claimed', { jobId: claim.job.jobId });
    await this.runClaimed(pilotId, storage, claim.job, workRoot, logger);
    this.jobsRun++;
    return true;
  }

  private async runClaimed(
    pilotId: string,
    storage: S3Storage,
    job: ClaimedJob,
    workRoot: string,
    logger: Logger,
  ): Promise<void> {
    const current: CurrentJob = {
      ref: { taskId: job.taskId, jobIndex: job.jobIndex, attempt: job.attempt },
      phase: 'starting',
      abort: new AbortController(),
    };
    this.current = current;
    if (this.stopping.signal.aborted) current.abort.abort(PILOT_ERROR_CODES.EVICTED);
    let report: CompleteRequest;
    try {
      report = await runJob(job, {
        storage,
        workRoot,
        host: this.config.host,
        killGraceMs: this.config.killGraceSec * 1000,
        logCapBytes: this.config.logCapMB * 2 ** 20,
        logger,
        signal: current.abort.signal,
        onSpawn: (pid) => {
          current.pgid = pid;
          current.phase = 'running';
          void this.beat(pilotId);
        },
      });
      current.pgid = undefined;
      await this.report(pilotId, report, logger);
    } finally {
      this.current = undefined;
    }
  }

  private async report(pilotId: string, report: CompleteRequest, logger: Logger): Promise<void> {
    try {
      const outcome = await this.deps.api.complete(pilotId, report, { retries: COMPLETE_RETRIES });
      if (outcome.outcome === 'recorded') {
        logger.info('completion recorded', {
          pilotErrorCode: report.pilotErrorCode,
          jobState: outcome.jobState,
        });
      } else {
        logger.warn('completion not recorded: stale', { reason: outcome.reason });
      }
    } catch (error) {
      const kind = error instanceof ApiRequestError && !error.retryable ? 'rejected' : 'failed';
      logger.error(`completion report ${kind}; giving up on it`, {
        error,
        pilotErrorCode: report.pilotErrorCode,
      });
    }
  }

  private async acknowledge(queue: SiteQueue, message: ReceivedMessage, logger: Logger): Promise<void> {
    try {
      await queue.delete(message.receiptHandle);
    } catch (error) {
      // A message that comes back is a duplicate: its claim is then 'stale' and it is acknowledged then.
      logger.warn('could not delete the job message', { messageId: message.messageId, error });
    }
  }

  private async release(queue: SiteQueue, message: ReceivedMessage, visibilitySec: number): Promise<void> {
    try {
      await queue.release(message.receiptHandle, visibilitySec);
    } catch (error) {
      this.logger.warn('could not change the visibility of a message', {
        messageId: message.messageId,
        error,
      });
    }
  }

  // ---- heartbeats ------------------------------------------------------------------------------

  private startHeartbeats(pilotId: string, intervalSec: number): () => Promise<void> {
    const stopBeats = new AbortController();
    const loop = (async () => {
      while (!stopBeats.signal.aborted) {
        await sleep(intervalSec * 1000, stopBeats.signal);
        if (stopBeats.signal.aborted) break;
        await this.beat(pilotId);
      }
    })();
    return async () => {
      stopBeats.abort();
      await loop;
      await this.beats;
    };
  }

  /** Sends one heartbeat after any in flight (so beats never overlap and the newest state wins). */
  private beat(pilotId: string): Promise<void> {
    this.beats = this.beats.then(() => this.sendBeat(pilotId));
    return this.beats;
  }

  private async sendBeat(pilotId: string): Promise<void> {
    const current = this.current;
    let state: PilotState = current === undefined ? 'idle' : 'busy';
    if (current !== undefined && this.stopping.signal.aborted) state = 'draining';
    const body: HeartbeatRequest = {
      state,
      jobs: current === undefined ? [] : [{ ...current.ref, phase: current.phase }],
    };
    try {
      const response = await this.deps.api.heartbeat(pilotId, body, { retries: 1 });
      for (const job of response.jobs) {
        if (job.action !== 'kill' || current === undefined || this.current !== current) continue;
        if (job.taskId !== current.ref.taskId || job.jobIndex !== current.ref.jobIndex) continue;
        if (job.attempt !== current.ref.attempt) continue;
        const code = /cancel/i.test(job.reason ?? '')
          ? PILOT_ERROR_CODES.CANCELLED
          : PILOT_ERROR_CODES.LEASE_LOST;
        this.logger.warn('the API asked to kill the job', {
          pilotId,
          ...current.ref,
          reason: job.reason,
          code,
        });
        current.abort.abort(code);
      }
    } catch (error) {
      this.logger.warn('heartbeat failed', { pilotId, error });
    }
  }
}

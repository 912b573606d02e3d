/**
 * The pilot's life: check the node, register (with the checks' results), then long-poll the site
 * queues of the resource classes it can run, claim, run, report, repeat, renewing its own lease
 * all along (one write per heartbeat, whatever it holds), until idle, out of walltime, out of
 * disk, max jobs, or asked to stop (a graceful drain bounded by --drain-sec). A multi-core pilot
 * runs several jobs at once, up to --jobs-at-once, while their cores, memory and disk fit what it
 * offers: it polls only the classes that fit what is free, and checks a message's needs before it
 * claims. A busy pilot reports a job's end with the claim of the next: one API call per job. A
 * pilot whose checks failed, or that the API did not accept, takes no work and sends nothing more.
 * A pilot told it is gone (PILOT_GONE) drains and exits.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsRequestCounts } from '#adapters/aws-clients.ts';
import { ApiRequestError, apiCallCounts, type GluonClient } from '#client/gluon-client.ts';
import type { ReportRangesRequest, ReportRangesResponse } from '#core/api/event-ranges.ts';
import type { ClaimedJob, ClaimResponse, RegisterPilotResponse, ReportInput } from '#core/api/pilots.ts';
import { attemptKey, type JobRef, sameAttempt } from '#core/jobs/job.ts';
import { type JobMessage, messageNeeds, parseJobMessage } from '#core/jobs/job-message.ts';
import { classesFitting, needsFit } from '#core/jobs/resource-class.ts';
import type { HeartbeatAnswer } from '#core/pilots/lease.ts';
import type { CloudNode, LivePilotState, PilotResources } from '#core/pilots/pilot.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { pilotHeartbeat } from '#core/pilots/pilot-heartbeat.ts';
import type { PilotLeaseStore } from '#core/pilots/ports.ts';
import type { Logger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';
import type { PilotConfig } from './config.ts';
import type { RangeQueueClient } from './consumer/range-queue-client.ts';
import { runConsumer } from './consumer/run-consumer.ts';
import { EXIT_CODES, type ExitCode } from './exit-codes.ts';
import type { HealthReport } from './health/run-health-checks.ts';
import { logMalformedMessage } from './malformed-message.ts';
import type { NodeInfo } from './node-info.ts';
import { cpuWithChildrenSec, signalGroup } from './process-tree.ts';
import { ZERO_USAGE } from './run-attempt.ts';
import { type RunJobContext, runJob } from './run-job.ts';
import type { S3Storage } from './s3-storage.ts';
import type { ReceivedMessage } from './sqs-site-queue.ts';
import { PILOT_VERSION } from './version.ts';

/** The pilot's life ends this long before its token expires: its last report must still be accepted. */
const TOKEN_MARGIN_MS = 60_000;
/** An unfit job goes back to the queue for this long, so that other pilots get to see it. */
const UNFIT_VISIBILITY_SEC = 30;
/**
 * A job too big for what is free now (other jobs of this pilot run) goes back for this long; its
 * class is not polled again until one of them ends.
 */
const NOT_NOW_VISIBILITY_SEC = 5;
/**
 * The longest poll while jobs run. A poll outlives a pilot killed during it: SQS hands a message
 * that arrives then to the dead connection, hidden for the queue's visibility timeout. Short polls
 * while busy keep a lost pilot's own retries (sent once its lease expired) out of that window.
 */
const BUSY_POLL_WAIT_SEC = 2;
/** A finished job's report still waiting this long (no claim came to carry it) is sent on its own. */
const REPORT_ALONE_AFTER_MS = 1500;
/** Pause after a malformed message or a failing call, so a bad message or an outage is not a hot loop. */
const PAUSE_AFTER_BAD_MESSAGE_MS = 1000;
const PAUSE_AFTER_ERROR_MS = 2000;
const REPORT_RETRIES = 8;
/** How long a finished job's report waits for a next message to travel with (one call instead of two). */
const REPORT_PIGGYBACK_WAIT_SEC = 1;
/** A heartbeat that failed is tried again this soon (the lease must not lapse over one lost write). */
const BEAT_RETRY_MS = 3000;
/** Tasks known to be cancelled: their messages are acknowledged without a claim. */
const CANCELLED_MEMORY = 1000;

export interface SiteQueue {
  receive(waitSec: number, signal?: AbortSignal): Promise<ReceivedMessage | undefined>;
  delete(receiptHandle: string): Promise<void>;
  release(receiptHandle: string, visibilitySec: number): Promise<void>;
}

export interface PilotDeps {
  api: GluonClient;
  openQueue(queueUrl: string): SiteQueue;
  openStorage(bucket: string): S3Storage;
  /** An event-service task's range queue, for the consumer jobs this pilot claims (required to run them). */
  openRangeQueue?(queueUrl: string): RangeQueueClient;
  /** The lease table, where the pilot renews its own lease (opened once credentials are known). */
  openLeases(tableName: string): Pick<PilotLeaseStore, 'renew'>;
  logger: Logger;
  now?: () => number;
  /** The node checks, run before registering (default: none). */
  checkHealth?: (workRoot: string) => Promise<HealthReport>;
  /** Free space of the work area in MB, checked before each job (default: not checked). */
  freeDiskMB?: (path: string) => Promise<number>;
  /** Architecture, OS and GPUs to advertise. */
  node?: NodeInfo;
  /** Where the pilot runs in AWS (an EC2 instance, an AWS Batch job), registered with it. */
  cloud?: CloudNode;
  /**
   * Called once the API accepted the pilot, before a queue, storage or lease is opened (the place
   * to take up vended credentials). Throwing ends the pilot with exit code FAILURE.
   */
  onRegistered?: (registration: RegisterPilotResponse) => Promise<void> | void;
}

/** The configuration with the lifetime known (see walltime.ts). */
export type ResolvedPilotConfig = PilotConfig & { walltimeSec: number };

export type PilotExitReason =
  | 'idle'
  | 'max-jobs'
  | 'walltime'
  | 'stopped'
  | 'register-failed'
  | 'setup-failed'
  | 'unhealthy'
  | 'refused'
  | 'disk-full'
  | 'retiring';

const EXIT_CODE_BY_REASON: Record<PilotExitReason, ExitCode> = {
  idle: EXIT_CODES.OK,
  'max-jobs': EXIT_CODES.OK,
  walltime: EXIT_CODES.OK,
  stopped: EXIT_CODES.OK,
  'register-failed': EXIT_CODES.FAILURE,
  'setup-failed': EXIT_CODES.FAILURE,
  unhealthy: EXIT_CODES.UNHEALTHY,
  refused: EXIT_CODES.REFUSED,
  'disk-full': EXIT_CODES.UNHEALTHY,
  retiring: EXIT_CODES.OK,
};

/** How a stop other than a signal's drains (a Spot interruption notice gives its own time). */
export interface StopOptions {
  /** The drain's whole time (default --drain-sec). */
  drainMs?: number;
  /** Time between the payloads' SIGTERM and SIGKILL (default min(--kill-grace-sec, a third of the drain)). */
  killAfterMs?: number;
  /** Put before the error message of the attempts it evicts (e.g. "Spot interruption notice (terminate at …)"). */
  note?: string;
}

interface RunningJob {
  ref: JobRef;
  /** What it takes of the pilot's offer while it runs. */
  needs: { cores: number; memoryMB: number; diskMB: number; gpus: number };
  abort: AbortController;
  /** The payload's process group, once it runs. */
  pgid?: number;
}

/** A finished attempt's report, waiting to travel with the next claim (or on its own). */
interface PendingReport {
  report: ReportInput;
  logger: Logger;
}

export class Pilot {
  private readonly config: ResolvedPilotConfig;
  private readonly deps: PilotDeps;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  /** Aborted when the pilot takes no new job: by stop(), or by retire() (the running jobs go on). */
  private readonly claiming = new AbortController();
  /** Why no new job is taken after retire(). */
  private retireReason: string | undefined;
  /** Put before the error message of the attempts a stop evicted. */
  private stopNote: string | undefined;
  /** Sent with every try of the registration: a retry whose first answer was lost is this same pilot. */
  private readonly registrationKey = randomUUID();
  /** When the pilot's life ends (ms since the epoch): its walltime, or its token's expiry when sooner. */
  private lifeEndsAt: number;
  /** Jobs running now, by attempt key. */
  private readonly running = new Map<string, RunningJob>();
  /** Ended attempts whose report is not sent yet, oldest first. */
  private pending: PendingReport[] = [];
  /** Claims and reports go one at a time: each sets the lease's list of held attempts. */
  private apiTurn: Promise<unknown> = Promise.resolve();
  /** Wakes the loop when a job ends (or the pilot stops). */
  private wakeLoop: (() => void) | undefined;
  /** Classes not polled until a job ends: their next job does not fit what is free now. */
  private readonly notNow = new Set<string>();
  private pilotId: string | undefined;
  private leases: Pick<PilotLeaseStore, 'renew'> | undefined;
  private leaseSec = 120;
  /** The API's clock minus ours (ms), from registration: lease times are the API's. */
  private clockOffsetMs = 0;
  private heartbeating = false;
  private beats: Promise<void> = Promise.resolve();
  private stopReason: string | undefined;
  /** Set by stop(): by then the drain must be over. */
  private drainDeadline: number | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Claims whose answer never came (the call failed): the lease may list them. */
  private readonly uncertainClaims: JobRef[] = [];
  private readonly cancelledTasks = new Set<string>();
  /** Why the loop ended, once it has. */
  exitReason: PilotExitReason | undefined;
  /** The node checks' results, once run. */
  health: HealthReport | undefined;
  jobsRun = 0;

  constructor(config: ResolvedPilotConfig, deps: PilotDeps) {
    this.config = config;
    this.deps = deps;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.lifeEndsAt = this.now() + config.walltimeSec * 1000;
  }

  /**
   * Asks the pilot to stop: no new job; the running payload gets SIGTERM, and SIGKILL after
   * min(--kill-grace-sec, a third of --drain-sec); it is reported as EVICTED; the pilot renews its
   * lease as `draining` at once and as `exited` at the end.
   */
  stop(reason: string, options: StopOptions = {}): void {
    if (this.stopping.signal.aborted) return;
    const drainMs = options.drainMs ?? this.config.drainSec * 1000;
    this.logger.warn('stopping', { reason, pilotId: this.pilotId, drainMs, note: options.note });
    this.stopReason = reason;
    this.stopNote = options.note;
    this.drainDeadline = this.now() + drainMs;
    this.stopping.abort();
    this.claiming.abort();
    for (const job of this.running.values()) job.abort.abort(PILOT_ERROR_CODES.EVICTED);
    this.wake();
    const killAfterMs = options.killAfterMs ?? Math.min(this.config.killGraceSec * 1000, drainMs / 3);
    this.later(killAfterMs, () => this.killPayloadNow());
    if (this.heartbeating && this.pilotId !== undefined) void this.beat(this.pilotId);
  }

  /**
   * Takes no new job; the running ones go on to their end (within their walltime), and then the
   * pilot exits (reason `retiring`, code 0). For a rebalance recommendation: the instance is at
   * risk, so it empties, and the provisioner asks for capacity elsewhere.
   */
  retire(reason: string): void {
    if (this.claiming.signal.aborted) return;
    this.logger.warn('taking no new job; exiting when the running ones end', {
      reason,
      pilotId: this.pilotId,
      running: this.running.size,
    });
    this.retireReason = reason;
    this.claiming.abort();
    this.wake();
    if (this.heartbeating && this.pilotId !== undefined) void this.beat(this.pilotId);
  }

  /** Kills the running payloads' process groups at once (for a second signal or a hard deadline). */
  killPayloadNow(): void {
    for (const job of this.running.values()) if (job.pgid !== undefined) signalGroup(job.pgid, 'SIGKILL');
  }

  /** Runs until idle, max jobs, walltime, disk or stop; resolves to the process exit code (EXIT_CODES). */
  async run(): Promise<number> {
    const { workRoot, created } = await this.prepareWorkRoot();
    try {
      this.exitReason = await this.live(workRoot);
      return EXIT_CODE_BY_REASON[this.exitReason];
    } finally {
      for (const timer of this.timers) clearTimeout(timer);
      if (created) await rm(workRoot, { recursive: true, force: true }).catch(() => {});
    }
  }

  private async live(workRoot: string): Promise<PilotExitReason> {
    const health = await this.checkHealth(workRoot);
    if (this.stopping.signal.aborted) return 'stopped';
    let registration: RegisterPilotResponse;
    try {
      registration = await this.deps.api.call(
        'registerPilot',
        {
          body: {
            siteId: this.config.siteId,
            host: this.config.host,
            pid: process.pid,
            version: PILOT_VERSION,
            resources: this.resources(),
            ...(this.config.batchId === undefined ? {} : { batchId: this.config.batchId }),
            ...(this.deps.cloud === undefined ? {} : { cloud: this.deps.cloud }),
            health: health.checks,
            registrationKey: this.registrationKey,
          },
        },
        { signal: this.stopping.signal, retries: 4 },
      );
    } catch (error) {
      if (this.stopping.signal.aborted) return 'stopped';
      this.logger.error('registration failed', { error });
      return 'register-failed';
    }
    this.pilotId = registration.pilotId;
    const registered = {
      pilotId: registration.pilotId,
      siteId: registration.siteId,
      accepted: registration.accepted,
      reason: registration.reason,
    };
    if (!health.healthy) {
      // Registered so that operators see the node's problems; nothing more is sent.
      this.logger.error('unhealthy node: registered the failed checks and taking no work', {
        ...registered,
        failed: health.checks.filter((c) => !c.ok),
      });
      return 'unhealthy';
    }
    if (!registration.accepted) {
      this.logger.error('the API did not accept this pilot; taking no work', registered);
      return 'refused';
    }
    const serverMs = Date.parse(registration.serverTime);
    if (Number.isFinite(serverMs)) this.clockOffsetMs = serverMs - this.now();
    this.leaseSec = registration.leaseSec;
    this.logger.info('registered', {
      ...registered,
      queueUrl: registration.queueUrl,
      heartbeatSec: registration.heartbeatSec,
      leaseSec: registration.leaseSec,
      walltimeLeftSec: this.walltimeLeftSec(),
    });
    let reason: PilotExitReason;
    let stopHeartbeats: () => Promise<void> = async () => {};
    try {
      await this.deps.onRegistered?.(registration);
      this.leases = this.deps.openLeases(registration.leaseTable);
      stopHeartbeats = this.startHeartbeats(registration.pilotId, Math.max(1, registration.heartbeatSec));
      // A job that fitted at its claim ends by its own walltime first; this only catches what did not.
      this.later(this.lifeEndsAt - this.now(), () => this.stop('walltime'));
      reason = await this.loop(registration, workRoot);
    } catch (error) {
      this.logger.error('pilot set-up failed', { pilotId: registration.pilotId, error });
      reason = 'setup-failed';
    } finally {
      await stopHeartbeats();
    }
    this.logger.info('exiting', {
      pilotId: this.pilotId,
      reason,
      jobsRun: this.jobsRun,
      awsRequests: awsRequestCounts(),
      apiRequests: apiCallCounts(),
      cpuSec: await cpuWithChildrenSec(),
    });
    if (reason !== 'refused' && this.leases !== undefined) {
      try {
        await this.renewLease(registration.pilotId, 'exited');
      } catch (error) {
        this.logger.warn('final heartbeat failed', { error });
      }
    }
    return reason;
  }

  private async checkHealth(workRoot: string): Promise<HealthReport> {
    const health = (await this.deps.checkHealth?.(workRoot)) ?? { checks: [], healthy: true };
    this.health = health;
    for (const check of health.checks) {
      const fields = { check: check.name, value: check.value, message: check.message };
      if (check.ok) this.logger.debug('node check passed', fields);
      else this.logger.error('node check failed', fields);
    }
    if (health.tokenExpiresAt !== undefined && health.tokenExpiresAt - TOKEN_MARGIN_MS < this.lifeEndsAt) {
      this.lifeEndsAt = health.tokenExpiresAt - TOKEN_MARGIN_MS;
      this.logger.info('the token expires before the walltime: lifetime shortened', {
        walltimeLeftSec: this.walltimeLeftSec(),
        tokenExpiresAt: new Date(health.tokenExpiresAt).toISOString(),
      });
    }
    return health;
  }

  /** Runs `action` after `ms` unless the pilot has ended; the timer does not keep the process alive. */
  private later(ms: number, action: () => void): void {
    const timer = setTimeout(action, Math.min(Math.max(0, ms), 2 ** 31 - 1));
    timer.unref();
    this.timers.push(timer);
  }

  /** While draining: aborts when the drain's time is up, less `reserveMs` for what comes after. */
  private drainSignal(reserveMs: number): AbortSignal | undefined {
    if (this.drainDeadline === undefined) return undefined;
    return AbortSignal.timeout(Math.max(200, this.drainDeadline - this.now() - reserveMs));
  }

  private async prepareWorkRoot(): Promise<{ workRoot: string; created: boolean }> {
    if (this.config.workDir !== undefined) {
      await mkdir(this.config.workDir, { recursive: true });
      return { workRoot: this.config.workDir, created: false };
    }
    return { workRoot: await mkdtemp(join(tmpdir(), 'gluon-pilot-')), created: true };
  }

  private walltimeLeftSec(): number {
    return Math.max(0, Math.floor((this.lifeEndsAt - this.now()) / 1000));
  }

  /**
   * What the pilot offers now: what is not taken by the jobs it runs (a job fits or not by it, so
   * the API refuses a job that would not fit), and walltimeLeftSec, which shrinks as it ages.
   */
  private resources(): PilotResources {
    const node = this.deps.node;
    const free = this.free();
    return {
      cores: Math.max(1, free.cores),
      memoryMB: Math.max(1, free.memoryMB),
      diskMB: Math.max(0, free.diskMB),
      walltimeLeftSec: this.walltimeLeftSec(),
      ...(node === undefined ? {} : { arch: node.arch, os: node.os, gpus: Math.max(0, free.gpus) }),
      ...(this.config.tags.length === 0 ? {} : { tags: this.config.tags }),
    };
  }

  /** The pilot's cores, memory, disk and GPUs less what its running jobs take. */
  private free(): RunningJob['needs'] {
    const free = {
      cores: this.config.cores,
      memoryMB: this.config.memoryMB,
      diskMB: this.config.diskMB,
      gpus: this.deps.node?.gpus ?? 0,
    };
    for (const { needs } of this.running.values()) {
      free.cores -= needs.cores;
      free.memoryMB -= needs.memoryMB;
      free.diskMB -= needs.diskMB;
      free.gpus -= needs.gpus;
    }
    return free;
  }

  /** Resolves when a job ends or the pilot stops (the loop waits here while it is full). */
  private jobEnded(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.wakeLoop;
      this.wakeLoop = () => {
        previous?.();
        resolve();
      };
    });
  }

  private wake(): void {
    const wake = this.wakeLoop;
    this.wakeLoop = undefined;
    wake?.();
  }

  private async loop(registration: RegisterPilotResponse, workRoot: string): Promise<PilotExitReason> {
    // The queues of the classes this pilot can run, largest first (an older API names only one).
    const queues = (
      registration.queues ?? [{ resourceClass: 'score' as const, queueUrl: registration.queueUrl }]
    ).map((q) => ({ resourceClass: q.resourceClass, queue: this.deps.openQueue(q.queueUrl) }));
    const storage = this.deps.openStorage(registration.bucket);
    const stop = this.stopping.signal;
    const claiming = this.claiming.signal;
    const pilotId = registration.pilotId;
    let lastBusyAt = this.now();
    try {
      for (;;) {
        if (stop.aborted) {
          if (this.stopReason === REFUSED) return 'refused';
          return this.stopReason === 'walltime' ? 'walltime' : 'stopped';
        }
        if (this.running.size > 0) lastBusyAt = this.now();
        // No new job: wait for the running ones to end, then exit.
        const ending = await this.endingReason(workRoot, lastBusyAt);
        if (ending !== undefined) {
          if (this.running.size === 0) return ending;
          await this.jobEnded();
          continue;
        }
        const free = this.free();
        const fitting = new Set(classesFitting(free));
        const polled = queues.filter(
          (q) => fitting.has(q.resourceClass) && !this.notNow.has(q.resourceClass),
        );
        if (this.running.size >= this.config.jobsAtOnce || polled.length === 0) {
          // Waited for from now: a job that ends while the reports go must still wake the loop.
          const ended = this.jobEnded();
          await this.flushReports(pilotId);
          await ended;
          continue;
        }

        // With a report waiting, look only briefly for a next job to carry it; else send it alone.
        // The larger classes are looked at first, without waiting; the last one is long-polled.
        const idleLeftSec = this.config.idleExitSec - (this.now() - lastBusyAt) / 1000;
        const waitSec =
          this.pending.length > 0
            ? REPORT_PIGGYBACK_WAIT_SEC
            : this.running.size > 0
              ? Math.min(this.config.pollWaitSec, BUSY_POLL_WAIT_SEC)
              : Math.min(this.config.pollWaitSec, Math.max(1, Math.ceil(idleLeftSec)));
        let received: { message: ReceivedMessage; queue: SiteQueue; resourceClass: string } | undefined;
        try {
          for (const [i, { queue, resourceClass }] of polled.entries()) {
            const message = await queue.receive(i === polled.length - 1 ? waitSec : 0, claiming);
            if (message !== undefined) {
              received = { message, queue, resourceClass };
              break;
            }
          }
        } catch (error) {
          this.logger.warn('receive from the site queue failed', { error });
          await this.flushReports(pilotId);
          await sleep(PAUSE_AFTER_ERROR_MS, stop);
          continue;
        }
        if (received === undefined) {
          await this.flushReports(pilotId);
          continue;
        }
        const { message, queue } = received;
        if (claiming.aborted) {
          // Received as the pilot stopped taking work: back to the queue at once, for others.
          await this.release(queue, message, 0);
          continue;
        }

        let jobMessage: JobMessage;
        try {
          jobMessage = parseJobMessage(message.body);
        } catch (error) {
          logMalformedMessage(this.logger, 'job', message, error);
          await this.release(queue, message, 0);
          await this.flushReports(pilotId);
          await sleep(PAUSE_AFTER_BAD_MESSAGE_MS, stop);
          continue;
        }
        if (this.cancelledTasks.has(jobMessage.taskId)) {
          await this.acknowledge(queue, message, this.logger);
          continue;
        }
        if (!needsFit(messageNeeds(jobMessage), free)) {
          // Bigger than what is free now: others (or this pilot, once a job ends) take it. No claim.
          this.logger.debug('job too big for what is free now; leaving it', {
            ...jobMessage,
            free,
          });
          // With jobs running, it may fit once one ends: the class waits for that. Else it never fits.
          if (this.running.size > 0) this.notNow.add(received.resourceClass);
          await this.release(
            queue,
            message,
            this.running.size > 0 ? NOT_NOW_VISIBILITY_SEC : UNFIT_VISIBILITY_SEC,
          );
          continue;
        }
        if (await this.claimAndStart(pilotId, queue, storage, message, jobMessage, workRoot)) {
          lastBusyAt = this.now();
        }
      }
    } finally {
      // Stopped: the running jobs were told to end; their reports go before the pilot does.
      while (this.running.size > 0) await this.jobEnded();
      await this.flushReports(pilotId);
    }
  }

  /** Why no new job may be taken (max jobs, walltime, idle, disk), or undefined. */
  private async endingReason(workRoot: string, lastBusyAt: number): Promise<PilotExitReason | undefined> {
    if (this.retireReason !== undefined) return 'retiring';
    const started = this.jobsRun + this.running.size;
    if (this.config.maxJobs !== undefined && started >= this.config.maxJobs) return 'max-jobs';
    if (this.walltimeLeftSec() < this.config.minJobWalltimeSec) return 'walltime';
    if (this.running.size === 0 && this.config.idleExitSec - (this.now() - lastBusyAt) / 1000 <= 0)
      return 'idle';
    if (await this.diskTooFull(workRoot)) return 'disk-full';
    return undefined;
  }

  /** Free space of the work area under --min-free-disk-running-mb (PanDA: 1 GB while running). */
  private async diskTooFull(workRoot: string): Promise<boolean> {
    if (this.deps.freeDiskMB === undefined) return false;
    let freeMB: number;
    try {
      freeMB = await this.deps.freeDiskMB(workRoot);
    } catch (error) {
      this.logger.warn('could not read the free space of the work area', { error });
      return false;
    }
    if (freeMB >= this.config.minFreeDiskRunningMB) return false;
    this.logger.error('not enough free space in the work area; taking no more work', {
      pilotId: this.pilotId,
      freeMB,
      minFreeMB: this.config.minFreeDiskRunningMB,
    });
    return true;
  }

  /** Runs API calls that set the lease's held attempts one at a time, in the order asked. */
  private inTurn<T>(call: () => Promise<T>): Promise<T> {
    const next = this.apiTurn.catch(() => {}).then(call);
    this.apiTurn = next;
    return next;
  }

  /** What the pilot holds besides `except`: the jobs it runs, and ended attempts not reported yet. */
  private holds(except: PendingReport[] = []): JobRef[] {
    return [
      ...[...this.running.values()].map((job) => job.ref),
      ...this.pending
        .filter((p) => !except.includes(p))
        .map(({ report }) => ({ taskId: report.taskId, jobIndex: report.jobIndex, attempt: report.attempt })),
    ];
  }

  /** Claims the job of a message (with a waiting report) and, when it is ours, starts it. True when a job started. */
  private async claimAndStart(
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
    let pending: PendingReport | undefined;
    let answer: ClaimResponse;
    try {
      answer = await this.inTurn(() => {
        pending = this.pending.shift();
        const signal = this.drainSignal(2000);
        return this.deps.api.call(
          'claimJob',
          {
            params: { pilotId },
            body: {
              ...ref,
              ...(jobMessage.sentAt === undefined ? {} : { sentAt: jobMessage.sentAt }),
              resources: this.resources(),
              holds: this.holds(),
              ...(pending === undefined ? {} : { report: pending.report }),
            },
          },
          { retries: 4, ...(signal === undefined ? {} : { signal }) },
        );
      });
    } catch (error) {
      logger.warn('claim failed; the message goes back to the queue', { error });
      // The claim may have landed without its answer: the lease will say so, and it is given back then.
      this.uncertainClaims.push(ref);
      await this.release(queue, message, 0);
      if (pending !== undefined) this.pending.unshift(pending);
      this.stopIfGone(error);
      await this.flushReports(pilotId);
      await sleep(PAUSE_AFTER_ERROR_MS, this.stopping.signal);
      return false;
    }
    // Answered now: an earlier claim of this attempt whose answer was lost is this one, not one to give back.
    if (answer.outcome === 'claimed') this.forgetUncertainClaim(ref);
    if (pending !== undefined && answer.report !== undefined) this.logReport(pending, answer.report);
    if (answer.outcome === 'unfit') {
      logger.info('job does not fit this pilot; leaving it to others', { reason: answer.reason });
      await this.release(queue, message, UNFIT_VISIBILITY_SEC);
      return false;
    }
    await this.acknowledge(queue, message, logger);
    if (answer.outcome === 'cancelled') this.rememberCancelled(ref.taskId);
    if (answer.outcome !== 'claimed' || answer.job === undefined) {
      // A paused task's message is dropped too: its resume sends the message again.
      logger.info('message acknowledged without running', { outcome: answer.outcome, reason: answer.reason });
      return false;
    }
    logger.info('job claimed', { jobId: answer.job.jobId, running: this.running.size + 1 });
    this.start(pilotId, storage, answer.job, workRoot, logger);
    return true;
  }

  private forgetUncertainClaim(ref: JobRef): void {
    for (let i = this.uncertainClaims.length - 1; i >= 0; i--) {
      const claim = this.uncertainClaims[i];
      if (claim !== undefined && sameAttempt(claim, ref)) this.uncertainClaims.splice(i, 1);
    }
  }

  private rememberCancelled(taskId: string): void {
    if (this.cancelledTasks.size >= CANCELLED_MEMORY) this.cancelledTasks.clear();
    this.cancelledTasks.add(taskId);
  }

  /**
   * Runs a claimed job alongside the others. Its end wakes the loop; its report waits for the next
   * claim to carry it, and goes on its own if none came soon.
   */
  private start(
    pilotId: string,
    storage: S3Storage,
    job: ClaimedJob,
    workRoot: string,
    logger: Logger,
  ): void {
    const ref = { taskId: job.taskId, jobIndex: job.jobIndex, attempt: job.attempt };
    const key = attemptKey(ref);
    const running: RunningJob = {
      ref,
      needs: {
        cores: job.resources.cores,
        memoryMB: job.resources.memoryMB,
        diskMB: job.resources.diskMB,
        gpus: job.resources.gpus ?? 0,
      },
      abort: new AbortController(),
    };
    this.running.set(key, running);
    if (this.stopping.signal.aborted) running.abort.abort(PILOT_ERROR_CODES.EVICTED);
    const freeDiskMB = this.deps.freeDiskMB;
    const ctx: RunJobContext = {
      storage,
      workRoot,
      host: this.config.host,
      pilotId,
      siteId: this.config.siteId,
      killGraceMs: this.config.killGraceSec * 1000,
      logCapBytes: this.config.logCapMB * 2 ** 20,
      logCapAction: this.config.logCapAction,
      loopingSec: this.config.loopingSec,
      logger,
      signal: running.abort.signal,
      ...(freeDiskMB === undefined ? {} : { freeDiskMB: () => freeDiskMB(workRoot) }),
      onSpawn: (pid) => {
        running.pgid = pid;
      },
    };
    const run = job.consumer === undefined ? runJob(job, ctx) : this.runConsumerJob(pilotId, job, ctx);
    void run
      .catch((error: unknown): ReportInput => {
        // runJob turns every failure of the job into a report: this is the pilot's own fault.
        logger.error('the attempt ended without a report', { error });
        return {
          ...ref,
          pilotErrorCode: PILOT_ERROR_CODES.WORKDIR_FAILED,
          errorMessage: `pilot failure: ${(error as Error).message}`.slice(0, 4000),
          usage: ZERO_USAGE,
          host: this.config.host,
        };
      })
      .then((report) => {
        if (this.stopNote !== undefined && report.pilotErrorCode === PILOT_ERROR_CODES.EVICTED) {
          const detail = report.errorMessage === undefined ? '' : `; ${report.errorMessage}`;
          report.errorMessage = `${this.stopNote}${detail}`.slice(0, 4000);
        }
        const pending = { report, logger };
        this.pending.push(pending);
        this.running.delete(key);
        this.jobsRun++;
        this.notNow.clear();
        this.wake();
        this.later(REPORT_ALONE_AFTER_MS, () => {
          if (this.pending.includes(pending)) void this.flushReports(pilotId);
        });
      });
  }

  /** An event-service consumer: ranges from its task's range queue, reported in batches. */
  private async runConsumerJob(pilotId: string, job: ClaimedJob, ctx: RunJobContext): Promise<ReportInput> {
    const queueUrl = job.consumer?.rangeQueueUrl ?? '';
    if (this.deps.openRangeQueue === undefined) {
      return {
        taskId: job.taskId,
        jobIndex: job.jobIndex,
        attempt: job.attempt,
        pilotErrorCode: PILOT_ERROR_CODES.CONSUMER_STOPPED,
        errorMessage: 'this pilot cannot open range queues',
        usage: ZERO_USAGE,
        host: this.config.host,
      };
    }
    return runConsumer(job, {
      ...ctx,
      pilotId,
      queue: this.deps.openRangeQueue(queueUrl),
      reportRanges: (body, signal) => this.reportRanges(pilotId, body, signal),
      walltimeLeftSec: () => this.walltimeLeftSec(),
    });
  }

  /** One batch of range reports, retried like the other reports; PILOT_GONE stops the pilot. */
  private async reportRanges(
    pilotId: string,
    body: ReportRangesRequest,
    signal?: AbortSignal,
  ): Promise<ReportRangesResponse> {
    try {
      return await this.deps.api.call(
        'reportRanges',
        { params: { pilotId }, body },
        { retries: REPORT_RETRIES, ...(signal === undefined ? {} : { signal }) },
      );
    } catch (error) {
      this.stopIfGone(error);
      throw error;
    }
  }

  /** Sends the waiting reports on their own (no next job came to carry them), one call each. */
  private async flushReports(pilotId: string): Promise<void> {
    while (this.pending.length > 0) {
      await this.inTurn(async () => {
        const pending = this.pending.shift();
        if (pending === undefined) return;
        try {
          // While draining, the report must fit in what is left of --drain-sec (with 2 s kept for the exit).
          const signal = this.drainSignal(2000);
          const outcome = await this.deps.api.call(
            'completeJob',
            { params: { pilotId }, body: { ...pending.report, holds: this.holds([pending]) } },
            { retries: REPORT_RETRIES, ...(signal === undefined ? {} : { signal }) },
          );
          this.logReport(pending, outcome);
        } catch (error) {
          const kind = error instanceof ApiRequestError && !error.retryable ? 'rejected' : 'failed';
          pending.logger.error(`completion report ${kind}; giving up on it`, {
            error,
            pilotErrorCode: pending.report.pilotErrorCode,
          });
          this.stopIfGone(error);
        }
      });
    }
  }

  private logReport(
    pending: PendingReport,
    outcome: { outcome: string; jobState?: string; reason?: string },
  ): void {
    if (outcome.outcome === 'recorded') {
      pending.logger.info('completion recorded', {
        pilotErrorCode: pending.report.pilotErrorCode,
        jobState: outcome.jobState,
      });
    } else {
      pending.logger.warn('completion not recorded: stale', { reason: outcome.reason });
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

  // ---- heartbeats: the pilot renews its own lease ------------------------------------------------

  private startHeartbeats(pilotId: string, intervalSec: number): () => Promise<void> {
    this.heartbeating = true;
    const stopBeats = new AbortController();
    const loop = (async () => {
      let wait = intervalSec * 1000;
      while (!stopBeats.signal.aborted) {
        await sleep(wait, stopBeats.signal);
        if (stopBeats.signal.aborted) break;
        const ok = await this.beat(pilotId).then(
          () => true,
          () => false,
        );
        wait = ok ? intervalSec * 1000 : BEAT_RETRY_MS;
      }
    })();
    return async () => {
      this.heartbeating = false;
      stopBeats.abort();
      await loop;
      await this.beats.catch(() => {});
    };
  }

  /** Renews the lease after any renewal in flight (so they never overlap and the newest state wins). */
  private beat(pilotId: string): Promise<void> {
    const next = this.beats.catch(() => {}).then(() => this.sendBeat(pilotId));
    this.beats = next;
    return next;
  }

  private state(): LivePilotState {
    if (this.claiming.signal.aborted) return 'draining';
    return this.running.size === 0 ? 'idle' : 'busy';
  }

  private async renewLease(pilotId: string, state: LivePilotState | 'exited'): Promise<HeartbeatAnswer> {
    const leases = this.leases;
    if (leases === undefined) return { pilot: 'live', jobs: [], unknown: [] };
    const held = this.holds();
    return pilotHeartbeat(
      { leases, clock: { now: () => new Date(this.now() + this.clockOffsetMs) }, leaseSec: this.leaseSec },
      pilotId,
      { state, held, jobsRun: this.jobsRun },
    );
  }

  private async sendBeat(pilotId: string): Promise<void> {
    let answer: HeartbeatAnswer;
    try {
      answer = await this.renewLease(pilotId, this.state());
    } catch (error) {
      this.logger.warn('heartbeat failed; trying again soon', { pilotId, error });
      throw error;
    }
    if (answer.pilot === 'gone') {
      this.logger.error('the lease is gone: this pilot is no longer live (its jobs were queued again)', {
        pilotId,
      });
      for (const job of this.running.values()) job.abort.abort(PILOT_ERROR_CODES.LEASE_LOST);
      this.stop(REFUSED);
      return;
    }
    for (const job of answer.jobs) {
      if (job.action === 'continue') continue;
      const running = this.running.get(attemptKey(job));
      if (running === undefined) continue;
      const code =
        job.action === 'kill-cancelled' ? PILOT_ERROR_CODES.CANCELLED : PILOT_ERROR_CODES.LEASE_LOST;
      this.logger.warn('the API asked to kill the job', {
        pilotId,
        ...running.ref,
        action: job.action,
        code,
      });
      if (job.action === 'kill-cancelled') this.rememberCancelled(running.ref.taskId);
      running.abort.abort(code);
    }
    // Claims whose answer never came but that did land: give them back, so they run elsewhere now.
    for (const ref of answer.unknown) {
      const index = this.uncertainClaims.findIndex((u) => sameAttempt(u, ref));
      if (index < 0) continue;
      this.uncertainClaims.splice(index, 1);
      void this.abandon(pilotId, ref);
    }
  }

  private async abandon(pilotId: string, ref: JobRef): Promise<void> {
    try {
      const outcome = await this.inTurn(() =>
        this.deps.api.call('completeJob', {
          params: { pilotId },
          body: {
            ...ref,
            pilotErrorCode: PILOT_ERROR_CODES.CLAIM_ABANDONED,
            errorMessage: `the answer to claim ${attemptKey(ref)} never reached the pilot`,
            usage: { wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 },
            holds: this.holds(),
          },
        }),
      );
      this.logger.warn('gave back a claim whose answer was lost', {
        pilotId,
        ...ref,
        outcome: outcome.outcome,
      });
    } catch (error) {
      this.logger.warn('could not give back a claim whose answer was lost', { pilotId, ...ref, error });
    }
  }

  /**
   * PILOT_GONE: the API no longer takes this pilot as live (its lease expired, it was unhealthy):
   * it must not go on receiving messages it may not claim, so it drains and exits (4).
   */
  private stopIfGone(error: unknown): void {
    if (error instanceof ApiRequestError && error.code === 'PILOT_GONE') this.stop(REFUSED);
  }
}

const REFUSED = 'refused by the API: this pilot is no longer live there (register again)';

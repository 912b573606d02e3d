/**
 * The pilot factory agent of one site, run on the site's edge node: every cycle it asks the API
 * what the site needs (`GET /sites/{siteId}/demand`), asks the batch system how many of its pilots
 * wait or run, and submits the difference, within --max-pending and the site's maxPilots. Like
 * Harvester's submitter and monitor, it never floods: pilots already waiting in the batch queue
 * count against the demand, and a failed look at either side submits nothing.
 */
import type { SiteDemand } from '#core/api/index.ts';
import { pilotsToSubmit } from '#core/sites/pilots-to-submit.ts';
import type { Logger } from '#platform/logger.ts';
import { sleep } from '#platform/sleep.ts';
import { BATCH_ID_PLACEHOLDER, type BatchJob, type BatchPlugin, type PilotJobSpec } from './batch-plugin.ts';
import type { FetchDemand } from './demand-client.ts';

export interface PilotFactoryAgentConfig {
  apiUrl: string;
  token: string;
  siteId: string;
  intervalSec: number;
  maxPending: number;
  maxPilots?: number;
  /** How a pilot is started: the single-executable gluon-pilot, or e.g. `node pilot/main.ts`. */
  pilotCommand: string[];
  /** Arguments added after the factory's own (e.g. `--idle-exit-sec 30`). */
  pilotArgs?: string[];
  cores?: number;
  memoryMB?: number;
  walltimeSec?: number;
  jobName: string;
  logDir: string;
  partition?: string;
  account?: string;
  /** Variables handed to every pilot on top of the token. */
  pilotEnv: Record<string, string>;
}

export interface PilotFactoryAgentDeps {
  fetchDemand: FetchDemand;
  batch: BatchPlugin;
  logger: Logger;
}

/** What one cycle saw and did. */
export interface CycleReport {
  demand: SiteDemand;
  pending: number;
  running: number;
  /** Running batch jobs whose pilots the site does not count yet (still starting up). */
  unregistered: number;
  /** The cap used: the smaller of the site's maxPilots and --max-pilots. */
  maxPilots: number;
  /** Batch ids of the pilots submitted in this cycle. */
  submitted: string[];
  /** Batch ids of pending pilots cancelled because the site is offline. */
  cancelled: string[];
}

/** Seconds a pilot's own walltime stays below its batch time limit, so it ends its job cleanly first. */
export function pilotWalltimeMargin(limitSec: number): number {
  return Math.min(300, Math.max(30, Math.round(limitSec * 0.05)));
}

export class PilotFactoryAgent {
  private readonly config: PilotFactoryAgentConfig;
  private readonly deps: PilotFactoryAgentDeps;

  constructor(config: PilotFactoryAgentConfig, deps: PilotFactoryAgentDeps) {
    this.config = config;
    this.deps = deps;
  }

  /** One look at demand and batch queue, then the submissions. Throws when either look fails. */
  async cycle(signal?: AbortSignal): Promise<CycleReport> {
    const { config, deps } = this;
    const demand = await deps.fetchDemand(config.siteId, signal);
    const jobs = await deps.batch.list(config.jobName);
    const pendingJobs = jobs.filter((j) => j.state === 'pending');
    const pending = pendingJobs.length;
    const running = jobs.filter((j) => j.state === 'running').length;
    const maxPilots = Math.min(demand.maxPilots, config.maxPilots ?? Number.POSITIVE_INFINITY);
    // Started by the batch system but not (yet) among the site's live pilots: booting. Exact when
    // this factory is the site's only source of pilots; otherwise an underestimate (never more pilots).
    const { starting, idle, busy, draining } = demand.pilots;
    const unregistered = Math.max(0, running - (starting + idle + busy + draining));
    const report: CycleReport = {
      demand,
      pending,
      running,
      unregistered,
      maxPilots,
      submitted: [],
      cancelled: [],
    };

    if (demand.status === 'offline') {
      report.cancelled = await this.cancelAll(pendingJobs);
    } else {
      const count = pilotsToSubmit({
        pilotsWanted: demand.pilotsWanted,
        pending,
        running,
        unregistered,
        maxPending: config.maxPending,
        maxPilots,
      });
      if (count > 0 && !signal?.aborted) {
        const outcome = await deps.batch.submit(count, this.jobSpec(demand));
        report.submitted = outcome.ids;
        if (outcome.error !== undefined) {
          deps.logger.error('batch submission failed', {
            siteId: config.siteId,
            batch: deps.batch.name,
            asked: count,
            submitted: outcome.ids.length,
            error: outcome.error,
          });
        }
      }
    }
    const level = report.submitted.length > 0 || report.cancelled.length > 0 ? 'info' : 'debug';
    deps.logger[level]('factory cycle', {
      siteId: config.siteId,
      status: demand.status,
      queuedJobs: demand.queuedJobs,
      pilotsWanted: demand.pilotsWanted,
      pending,
      running,
      unregistered,
      maxPilots,
      maxPending: config.maxPending,
      submitted: report.submitted.length,
      batchIds: report.submitted,
      ...(report.cancelled.length > 0 ? { cancelled: report.cancelled } : {}),
    });
    return report;
  }

  /**
   * Cycles every intervalSec until `signal` aborts (SIGTERM); with `once`, a single cycle. Pilots
   * already submitted are left alone at exit. Returns 0, or 1 when the single cycle failed.
   */
  async run(signal: AbortSignal, options: { once?: boolean } = {}): Promise<number> {
    const { config, deps } = this;
    deps.logger.info('pilot factory started', {
      siteId: config.siteId,
      batch: deps.batch.name,
      jobName: config.jobName,
      intervalSec: config.intervalSec,
      maxPending: config.maxPending,
      ...(config.maxPilots === undefined ? {} : { maxPilots: config.maxPilots }),
      pilotCommand: config.pilotCommand.join(' '),
    });
    for (;;) {
      let failed = false;
      try {
        await this.cycle(signal);
      } catch (error) {
        if (signal.aborted) break;
        failed = true;
        deps.logger.error('factory cycle failed; nothing submitted', { siteId: config.siteId, error });
      }
      if (options.once) return failed ? 1 : 0;
      await sleep(config.intervalSec * 1000, signal);
      if (signal.aborted) break;
    }
    deps.logger.info('pilot factory stopped', { siteId: config.siteId });
    return 0;
  }

  /** The batch job of one pilot, sized by the flags or else the site's slot. */
  jobSpec(demand: SiteDemand): PilotJobSpec {
    const { config } = this;
    const cores = config.cores ?? demand.slot.cores;
    const memoryMB = config.memoryMB ?? demand.slot.memoryMB;
    const walltimeSec = config.walltimeSec ?? demand.slot.walltimeSec;
    const pilotWalltimeSec = Math.max(60, walltimeSec - pilotWalltimeMargin(walltimeSec));
    return {
      jobName: config.jobName,
      command: [
        ...config.pilotCommand,
        'run',
        '--api-url',
        config.apiUrl,
        '--site',
        config.siteId,
        '--batch-id',
        BATCH_ID_PLACEHOLDER,
        '--walltime-sec',
        String(pilotWalltimeSec),
        '--cores',
        String(cores),
        '--memory-mb',
        String(memoryMB),
        ...(config.pilotArgs ?? []),
      ],
      env: { ...config.pilotEnv, GLUON_PILOT_TOKEN: config.token },
      cores,
      memoryMB,
      walltimeSec,
      logDir: config.logDir,
      ...(config.partition === undefined ? {} : { partition: config.partition }),
      ...(config.account === undefined ? {} : { account: config.account }),
    };
  }

  private async cancelAll(jobs: BatchJob[]): Promise<string[]> {
    const cancelled: string[] = [];
    for (const job of jobs) {
      try {
        await this.deps.batch.cancel(job.id);
        cancelled.push(job.id);
      } catch (error) {
        this.deps.logger.warn('could not cancel a pending pilot', { batchId: job.id, error });
      }
    }
    return cancelled;
  }
}

import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  attemptsUsed,
  barCells,
  percentDone,
  renderAttemptsTable,
  renderError,
  renderEventProgress,
  renderJob,
  renderJobsTable,
  renderPilotsTable,
  renderProgress,
  renderRangesTable,
  renderTable,
  renderTaskStatus,
  renderTaskSummary,
  taskTotals,
} from '#cli/render.ts';
import type { PilotView } from '#core/api/pilots.ts';
import type { AttemptView, JobView, TaskView } from '#core/api/tasks.ts';
import { emptyJobCounts, type JobCounts } from '#core/jobs/job-counts.ts';

function counts(partial: Partial<JobCounts>): JobCounts {
  return { ...emptyJobCounts(), ...partial };
}

function task(partial: Partial<TaskView> = {}): TaskView {
  return {
    taskId: 't-0123456789',
    name: 'zmumu-demo',
    owner: 'alice',
    state: 'running',
    jobCount: 10,
    jobsEnqueued: 10,
    counts: counts({ finished: 4, failed: 1, running: 2, queued: 3 }),
    siteIds: ['local'],
    cancelRequested: false,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:01:00.000Z',
    spec: {} as TaskView['spec'],
    history: [],
    ...partial,
  };
}

function job(partial: Partial<JobView> & Pick<JobView, 'jobIndex' | 'state'>): JobView {
  return {
    jobId: `t-0123456789.${partial.jobIndex}`,
    taskId: 't-0123456789',
    attempt: 1,
    siteId: 'local',
    ...partial,
  };
}

const stripAnsi = stripVTControlCharacters;

describe('barCells', () => {
  it('fills exactly the width when every job is counted', () => {
    const cells = barCells(counts({ finished: 3, failed: 3, running: 1 }), 7, 40);
    expect(Object.values(cells).reduce((a, b) => a + b, 0)).toBe(40);
  });

  it('sizes segments in proportion to the counts', () => {
    const cells = barCells(counts({ finished: 5, queued: 5 }), 10, 20);
    expect(cells.finished).toBe(10);
    expect(cells.queued).toBe(10);
    expect(cells.running).toBe(0);
  });

  it('gives a state with any job at least one cell', () => {
    const cells = barCells(counts({ finished: 999, failed: 1 }), 1000, 20);
    expect(cells.failed).toBe(1);
    expect(cells.finished).toBe(19);
  });

  it('leaves the rest empty when fewer jobs are counted than the task has', () => {
    const cells = barCells(counts({ queued: 5 }), 10, 20);
    expect(Object.values(cells).reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('draws nothing for a task not split yet', () => {
    const cells = barCells(counts({}), 0, 20);
    expect(Object.values(cells).every((n) => n === 0)).toBe(true);
  });
});

describe('renderProgress', () => {
  it('draws a bar of the requested width with one glyph per state and the counts', () => {
    const text = renderProgress(task(), { width: 20 });
    const [head = '', legend = ''] = text.split('\n');
    const bar = head.slice(head.indexOf('[') + 1, head.indexOf(']'));
    expect(bar).toHaveLength(20);
    expect(bar).toBe('########XX>>>>......');
    expect(head).toContain(' 50% of 10 jobs');
    expect(legend).toContain('finished 4');
    expect(legend).toContain('failed 1');
    expect(legend).toContain('running 2');
    expect(legend).toContain('queued 3');
    expect(legend).toBe('# finished 4  X failed 1  / cancelled 0  > running 2  . queued 3  _ defined 0');
  });

  it('colours only when asked, keeping the same visible width', () => {
    const plain = renderProgress(task(), { width: 30 });
    const coloured = renderProgress(task(), { width: 30, color: true });
    expect(plain).not.toContain('\u001b[');
    expect(coloured).toContain('\u001b[32m');
    const [head = ''] = stripAnsi(coloured).split('\n');
    expect(head.slice(head.indexOf('[') + 1, head.indexOf(']'))).toHaveLength(30);
  });

  it('says when the task has no jobs yet', () => {
    expect(renderProgress(task({ jobCount: 0, counts: counts({}) }), { width: 10 })).toContain(
      'not split into jobs yet',
    );
  });

  it('counts finished, failed and cancelled as done', () => {
    expect(
      percentDone({ jobCount: 4, counts: counts({ finished: 1, failed: 1, cancelled: 1, running: 1 }) }),
    ).toBe(75);
  });
});

describe('renderTaskStatus', () => {
  it('shows the name, the state, the reason and the bar', () => {
    const text = renderTaskStatus(task({ state: 'failed', reason: 'no site can run the jobs' }), {
      width: 10,
    });
    expect(text.split('\n').slice(0, 3)).toEqual([
      'zmumu-demo  t-0123456789',
      'state: failed',
      'reason: no site can run the jobs',
    ]);
    expect(text).toContain(' 50% of 10 jobs');
  });

  it('says a cancel was requested until the task is cancelled', () => {
    expect(renderTaskStatus(task({ cancelRequested: true }))).toContain(
      'state: running (cancel requested)\n',
    );
    expect(renderTaskStatus(task({ state: 'cancelled', cancelRequested: true }))).toContain(
      'state: cancelled\n',
    );
  });
});

describe('renderTaskStatus of a scouted task', () => {
  const scouting = {
    scouts: 3,
    unit: 'event' as const,
    targetWalltimeSec: 600,
  };

  it('says the scouts measure while they run', () => {
    expect(renderTaskStatus(task({ scouting: { state: 'scouting', ...scouting } }))).toContain(
      '\nscouts: the first 3 jobs measure time and memory per event; the rest is sized to about 600 s a job when they end',
    );
  });

  it('shows what the scouts measured and the sizing chosen, with its notes', () => {
    const text = renderTaskStatus(
      task({
        scouting: {
          state: 'sized',
          ...scouting,
          measured: {
            finished: 2,
            failed: 1,
            cancelled: 0,
            wallSecPerUnit: 0.051234,
            cpuSecPerUnit: 0.0449,
            peakRssMB: 45,
          },
          perJob: 11_711,
          jobs: 17,
          memoryMB: 100,
          notes: ['sized from 2 of 3 scouts; the others exit code 3 ×1'],
          sizedAt: '2026-11-25T10:01:00.000Z',
        },
      }),
    );
    expect(text.split('\n').slice(-3)).toEqual([
      'scouts: 2 of 3 finished, 1 failed: 0.0512 s wall (0.0449 s CPU) per event, peak RSS 45 MB',
      'sizing: 11711 events per job (target 600 s), 17 more jobs, memory 100 MB',
      '  note: sized from 2 of 3 scouts; the others exit code 3 ×1',
    ]);
  });

  it('says when the task ended before it was sized', () => {
    expect(
      renderTaskStatus(task({ state: 'failed', scouting: { state: 'not-sized', ...scouting } })),
    ).toContain('scouts: 3 jobs; the task ended before it was sized from them');
  });
});

describe('renderTable', () => {
  it('aligns columns under their headers', () => {
    const lines = renderTable(
      ['A', 'LONGER'],
      [
        ['xxxx', 'y'],
        ['z', 'w'],
      ],
    ).split('\n');
    expect(lines).toEqual(['A     LONGER', 'xxxx  y', 'z     w']);
  });

  it('lists jobs with exit code, error code, wall time and a trimmed message', () => {
    const text = renderJobsTable([
      job({
        jobIndex: 3,
        state: 'failed',
        attempt: 3,
        pilotId: 'p-abcdef12',
        exitCode: 1,
        pilotErrorCode: 1001,
        usage: { wallTimeSec: 12.34, cpuTimeSec: 10, maxRssKB: 2048 },
        errorMessage: `boom ${'x'.repeat(200)}`,
      }),
    ]);
    const row = text.split('\n')[1] ?? '';
    expect(row).toMatch(/^3\s+failed\s+3\s+local\s+p-abcdef12\s+1\s+1001\s+12\.3\s+boom x+…$/);
  });

  it('lists pilots with the age of their last heartbeat, or of their end once gone', () => {
    const pilot = (partial: Partial<PilotView>): PilotView => ({
      pilotId: 'p-abcdef12',
      siteId: 'local',
      host: 'node1',
      pid: 4242,
      version: 'dev',
      resources: { cores: 2, memoryMB: 4000, diskMB: 1000, walltimeLeftSec: 3600 },
      state: 'busy',
      registeredAt: '2026-11-25T09:00:00.000Z',
      ...partial,
    });
    const text = renderPilotsTable(
      [
        pilot({
          lease: {
            state: 'busy',
            expiresAt: '2026-11-25T10:01:20.000Z',
            beatAt: '2026-11-25T10:00:50.000Z',
            jobs: ['t-0123456789.3.1'],
          },
        }),
        pilot({ pilotId: 'p-gone0000', state: 'lost', jobsRun: 7, endedAt: '2026-11-25T09:55:00.000Z' }),
        pilot({ pilotId: 'p-new00000', state: 'starting', registeredAt: '2026-11-25T07:00:00.000Z' }),
      ],
      new Date('2026-11-25T10:01:00.000Z'),
    );
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^ID\s+SITE\s+HOST\s+PID\s+STATE\s+JOBS RUN\s+LAST HEARTBEAT$/);
    expect(rows[1]).toMatch(/^p-abcdef12\s+local\s+node1\s+4242\s+busy\s+10s ago$/);
    expect(rows[2]).toMatch(/^p-gone0000\s+local\s+node1\s+4242\s+lost\s+7\s+6m ago$/);
    expect(rows[3]).toMatch(/^p-new00000\s+local\s+node1\s+4242\s+starting\s+3h ago$/);
  });

  it('shows the instance type, market and hourly price of cloud pilots', () => {
    const base = {
      siteId: 'aws',
      host: 'ip-10-0-0-1',
      pid: 7,
      version: 'dev',
      resources: { cores: 2, memoryMB: 4000, diskMB: 1000, walltimeLeftSec: 3600 },
      state: 'idle' as const,
      registeredAt: '2026-11-25T10:00:00.000Z',
    };
    const text = renderPilotsTable(
      [
        {
          ...base,
          pilotId: 'p-spot0000',
          cloud: { provider: 'ec2', instanceType: 'm5.2xlarge', market: 'spot', pilotsOnInstance: 4 },
          cost: { hourlyUsd: 0.0375, instanceHourlyUsd: 0.15, source: 'table', asOf: '2026-11-01' },
        },
        {
          ...base,
          pilotId: 'p-batch000',
          cloud: { provider: 'batch', batchJobId: 'j-1:0', pilotsOnInstance: 1 },
          cost: { hourlyUsd: 1.5, instanceHourlyUsd: 1.5, source: 'site', asOf: '2026-11-25T10:00:00.000Z' },
        },
        { ...base, pilotId: 'p-grid0000', siteId: 'cern' },
      ],
      new Date('2026-11-25T10:01:00.000Z'),
    );
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/LAST HEARTBEAT\s+INSTANCE\s+MARKET\s+\$\/H$/);
    expect(rows[1]).toMatch(/^p-spot0000\s.*\s60s ago\s+m5\.2xlarge\s+spot\s+\$0\.0375$/);
    expect(rows[2]).toMatch(/^p-batch000\s.*\s60s ago\s+batch\s+-\s+\$1\.50$/);
    expect(rows[3]).toMatch(/^p-grid0000\s.*\s60s ago\s+-\s+-\s+-$/);
  });

  it('says so when there are no jobs or no pilots', () => {
    expect(renderJobsTable([])).toBe('no jobs');
    expect(renderPilotsTable([])).toBe('no pilots');
  });

  it('prints each field issue on its own line', () => {
    expect(
      renderError('invalid task spec', [
        { field: 'spec.name', message: 'required' },
        { field: 'spec.resources.memoryMB', message: 'too small' },
      ]),
    ).toBe('error: invalid task spec\n  spec.name: required\n  spec.resources.memoryMB: too small');
  });
});

describe('renderTaskSummary', () => {
  const usage = (wallTimeSec: number, maxRssKB: number) => ({
    wallTimeSec,
    cpuTimeSec: wallTimeSec / 2,
    maxRssKB,
  });
  const jobs: JobView[] = [
    job({
      jobIndex: 0,
      state: 'finished',
      attempt: 2,
      usage: usage(10, 1000),
      outputs: [
        { name: 'histogram.json', key: 'tasks/t-0123456789/jobs/0/attempt-2/histogram.json', bytes: 900 },
      ],
      attempts: [
        {
          attempt: 1,
          pilotId: 'p-abcdef12',
          siteId: 'local',
          state: 'failed',
          startedAt: '2026-11-25T10:00:00.000Z',
          endedAt: '2026-11-25T10:00:04.000Z',
          exitCode: 137,
          pilotErrorCode: 1102,
          errorMessage: 'RSS 600 MB over 500 MB',
          usage: usage(4, 614400),
        },
        {
          attempt: 2,
          pilotId: 'p-abcdef12',
          siteId: 'local',
          state: 'finished',
          startedAt: '2026-11-25T10:00:05.000Z',
          endedAt: '2026-11-25T10:00:15.000Z',
          exitCode: 0,
          pilotErrorCode: 0,
          usage: usage(10, 1000),
        },
      ],
    }),
    job({
      jobIndex: 1,
      state: 'finished',
      usage: usage(6, 2000),
      outputs: [
        { name: 'histogram.json', key: 'tasks/t-0123456789/jobs/1/attempt-1/histogram.json', bytes: 900 },
      ],
    }),
    job({
      jobIndex: 2,
      state: 'failed',
      attempt: 3,
      exitCode: 2,
      pilotErrorCode: 1001,
      errorMessage: 'bad args',
    }),
  ];

  it('sums attempts, retries and usage over every attempt', () => {
    const totals = taskTotals(jobs);
    expect(totals.attempts).toBe(2 + 1 + 3);
    expect(totals.retries).toBe(1 + 0 + 2);
    expect(totals.wallTimeSec).toBe(20);
    expect(totals.cpuTimeSec).toBe(10);
    expect(totals.maxRssKB).toBe(614400);
    expect(totals.outputKeys).toEqual([
      'tasks/t-0123456789/jobs/0/attempt-2/histogram.json',
      'tasks/t-0123456789/jobs/1/attempt-1/histogram.json',
    ]);
    expect(totals.errors.map((e) => [e.jobIndex, e.attempt])).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });

  it('shows jobs by state, attempts, usage, outputs and the first errors', () => {
    const text = renderTaskSummary(
      task({ state: 'partial', jobCount: 3, counts: counts({ finished: 2, failed: 1 }) }),
      jobs,
    );
    expect(text).toContain('Task t-0123456789 (zmumu-demo): partial');
    expect(text).toContain('jobs:     3 (finished 2, failed 1)');
    expect(text).toContain('attempts: 6 used (3 retries)');
    expect(text).toContain('wall 20.0 s, CPU 10.0 s, max RSS 600.0 MB');
    expect(text).toContain('tasks/t-0123456789/jobs/1/attempt-1/histogram.json');
    expect(text).toContain(
      'job 0 attempt 1: failed: error 1102 (payload exceeded its memory limit and was killed), exit 137: RSS 600 MB over 500 MB',
    );
    expect(text).toContain('job 2 attempt 3: failed: error 1001');
  });

  it('counts the attempts a job used from its state when its attempts are not listed', () => {
    expect(attemptsUsed(job({ jobIndex: 0, state: 'queued', attempt: 2 }))).toBe(1);
    expect(attemptsUsed(job({ jobIndex: 0, state: 'defined' }))).toBe(0);
    expect(attemptsUsed(job({ jobIndex: 0, state: 'running', attempt: 3 }))).toBe(3);
    expect(attemptsUsed(job({ jobIndex: 0, state: 'cancelled', attempt: 1 }))).toBe(0);
    expect(attemptsUsed(job({ jobIndex: 0, state: 'cancelled', attempt: 2, pilotId: 'p-abcdef12' }))).toBe(2);
  });

  it('says so when there are no outputs', () => {
    expect(renderTaskSummary(task({ state: 'failed' }), [])).toContain('outputs:  none');
  });
});

describe('renderJob', () => {
  const key = (attempt: number, name: string) => `tasks/t-0123456789/jobs/4/attempt-${attempt}/${name}`;
  const attempt = (partial: Partial<AttemptView> & Pick<AttemptView, 'attempt' | 'state'>): AttemptView => ({
    pilotId: 'p-abcdef12',
    siteId: 'local',
    host: 'wn01',
    startedAt: '2026-11-25T10:00:00.000Z',
    endedAt: '2026-11-25T10:00:04.000Z',
    pilotErrorCode: 0,
    usage: { wallTimeSec: 4, cpuTimeSec: 3, maxRssKB: 512_000 },
    log: { name: 'attempt.log', key: key(partial.attempt, 'attempt.log'), bytes: 321 },
    ...partial,
  });
  /** Killed for memory, then lost with its pilot, then finished with more memory on another host. */
  const retried = job({
    jobIndex: 4,
    state: 'finished',
    attempt: 3,
    pilotId: 'p-bbbbbbbb',
    host: 'wn02',
    resources: { memoryMB: 800 },
    firstEvent: 400,
    nEvents: 100,
    exitCode: 0,
    pilotErrorCode: 0,
    usage: { wallTimeSec: 12.5, cpuTimeSec: 11, maxRssKB: 700_000 },
    outputs: [{ name: 'events.root', key: key(3, 'events.root'), bytes: 1234, adler32: '0a1b2c3d' }],
    log: { name: 'attempt.log', key: key(3, 'attempt.log'), bytes: 321 },
    startedAt: '2026-11-25T10:01:00.000Z',
    endedAt: '2026-11-25T10:01:12.500Z',
    attempts: [
      attempt({
        attempt: 1,
        state: 'failed',
        exitCode: 137,
        signal: 'SIGKILL',
        pilotErrorCode: 1102,
        errorMessage: 'RSS 612 MB over 500 MB',
      }),
      attempt({ attempt: 2, state: 'lost', pilotErrorCode: 1304, usage: undefined, log: undefined }),
      attempt({
        attempt: 3,
        state: 'finished',
        pilotId: 'p-bbbbbbbb',
        host: 'wn02',
        exitCode: 0,
        startedAt: '2026-11-25T10:01:00.000Z',
        endedAt: '2026-11-25T10:01:12.500Z',
        usage: { wallTimeSec: 12.5, cpuTimeSec: 11, maxRssKB: 700_000 },
      }),
    ],
  });

  it('shows where the current attempt ran, its result, its outputs with sizes and checksums, and its log', () => {
    const lines = renderJob(retried).split('\n');
    expect(lines.slice(0, 17)).toEqual([
      'Job 4 of task t-0123456789: finished',
      '  attempt:    3 (after 2 earlier attempts)',
      '  site:       local',
      '  pilot:      p-bbbbbbbb',
      '  host:       wn02',
      '  resources:  memory 800 MB (raised for retries)',
      '  events:     first 400, 100 events',
      '  started:    2026-11-25 10:01:00',
      '  ended:      2026-11-25 10:01:12',
      '  usage:      wall 12.5 s, CPU 11.0 s, max RSS 683.6 MB',
      '  exit code:  0',
      '  error code: 0 (success)',
      '  outputs:    1 file in the task bucket:',
      '    KEY                                              BYTES  ADLER32',
      `    ${key(3, 'events.root')}  1234   0a1b2c3d`,
      `  log:        ${key(3, 'attempt.log')} (321 bytes)`,
      '',
    ]);
  });

  it('lists every attempt with its state, pilot and host, times, exit and error codes, then what the codes mean', () => {
    const text = renderJob(retried);
    const table = text.slice(text.indexOf('Attempts:\n') + 'Attempts:\n'.length).split('\n');
    expect(table[0]).toMatch(
      /^ATTEMPT\s+STATE\s+SITE\s+PILOT \/ HOST\s+STARTED\s+ENDED\s+WALL S\s+EXIT\s+ERROR\s+MESSAGE$/,
    );
    expect(table[1]).toMatch(
      /^1\s+failed\s+local\s+p-abcdef12 \/ wn01\s+2026-11-25 10:00:00\s+2026-11-25 10:00:04\s+4\.0\s+137\s+1102\s+RSS 612 MB over 500 MB$/,
    );
    expect(table[2]).toMatch(/^2\s+lost\s+local\s+p-abcdef12 \/ wn01\s+\S+ \S+\s+\S+ \S+\s+-\s+-\s+1304$/);
    expect(table[3]).toMatch(/^3\s+finished\s+local\s+p-bbbbbbbb \/ wn02\s+.*\s+12\.5\s+0\s+-$/);
    expect(table.slice(4)).toEqual([
      '  1102: payload exceeded its memory limit and was killed',
      '  1304: the pilot vanished: no heartbeat before its lease expired; an infrastructure error: the default retry rules do not count it against maxAttempts',
      'Logs:',
      `  attempt 1: ${key(1, 'attempt.log')}`,
      `  attempt 3: ${key(3, 'attempt.log')}`,
    ]);
  });

  it('adds the attempt in flight of a running job and says which codes do not use up attempts', () => {
    const text = renderAttemptsTable(
      job({
        jobIndex: 4,
        state: 'running',
        attempt: 2,
        pilotId: 'p-bbbbbbbb',
        host: 'wn02',
        startedAt: '2026-11-25T10:01:00.000Z',
        attempts: [attempt({ attempt: 1, state: 'evicted', pilotErrorCode: 1302, signal: 'SIGTERM' })],
      }),
    );
    const rows = text.split('\n');
    expect(rows[1]).toMatch(/^1\s+evicted\s+.*\s+4\.0\s+-\s+1302\s+signal SIGTERM$/);
    expect(rows[2]).toMatch(
      /^2\s+running\s+local\s+p-bbbbbbbb \/ wn02\s+2026-11-25 10:01:00\s+-\s+-\s+-\s+-$/,
    );
    expect(rows[3]).toBe(
      '  1302: the pilot was asked to stop (batch-system kill, spot interruption) and ended the payload; an infrastructure error: the default retry rules do not count it against maxAttempts',
    );
  });

  it('shows a job no pilot has run without result lines, and says no attempt ran', () => {
    const text = renderJob(
      job({ jobIndex: 7, state: 'queued', firstEvent: 700, nEvents: 100, attempts: [] }),
    );
    expect(text).toBe(
      [
        'Job 7 of task t-0123456789: queued',
        '  attempt:    1',
        '  site:       local',
        '  pilot:      -',
        '  host:       -',
        "  resources:  the task's",
        '  events:     first 700, 100 events',
        '',
        'Attempts:',
        'no attempt has run yet',
      ].join('\n'),
    );
    expect(renderAttemptsTable(job({ jobIndex: 7, state: 'cancelled', attempts: [] }))).toBe(
      'no attempt ran',
    );
  });

  it('says a failed job wrote no outputs, with its signal and error', () => {
    const text = renderJob(
      job({
        jobIndex: 2,
        state: 'failed',
        attempt: 1,
        pilotId: 'p-abcdef12',
        signal: 'SIGSEGV',
        pilotErrorCode: 1002,
        errorMessage: 'segmentation fault in toy',
        attempts: [],
      }),
    );
    expect(text).toContain('  exit code:  - (signal SIGSEGV)\n');
    expect(text).toContain(
      '  error code: 1002 (payload was killed by a signal it did not get from the pilot)\n  error:      segmentation fault in toy\n',
    );
    expect(text).toContain('  outputs:    none\n  log:        none\n');
  });

  it('colours the state only when asked', () => {
    expect(renderJob(retried, { color: true }).split('\n')[0]).toBe(
      'Job 4 of task t-0123456789: \u001b[32mfinished\u001b[0m',
    );
    expect(renderJob(retried)).not.toContain('\u001b[');
  });
});

describe('event-service views', () => {
  const ranges = {
    total: 100,
    ready: 40,
    running: 2,
    finished: 52,
    failed: 1,
    fatal: 5,
    events: 20000,
    eventsFinished: 10400,
  };

  it('draws the progress in events, and the ranges by state', () => {
    expect(renderEventProgress(ranges, { width: 10 })).toBe(
      '[#####     ]  52% events 10400 of 20000\nranges: finished 52  fatal 5  failed 1  running 2  ready 40  of 100',
    );
  });

  it('lists ranges with their events, file, pilot and error', () => {
    const table = renderRangesTable([
      {
        rangeIndex: 3,
        state: 'fatal',
        attempt: 2,
        firstEvent: 300,
        nEvents: 100,
        file: 'a.root',
        pilotId: 'p-000001',
        jobIndex: 1,
        errorCode: 1001,
        error: 'exit 3',
      },
      { rangeIndex: 4, state: 'ready', attempt: 0, firstEvent: 400, nEvents: 100 },
    ]).split('\n');
    expect(table[0]).toMatch(/^RANGE\s+STATE\s+ATTEMPT\s+EVENTS\s+FILE\s+PILOT\s+JOB\s+WALL\s+ERROR$/);
    expect(table[1]).toMatch(/^3\s+fatal\s+2\s+300-399\s+a\.root\s+p-000001\s+1\s+-\s+1001 exit 3$/);
    expect(table[2]).toMatch(/^4\s+ready\s+0\s+400-499\s+-\s+-\s+-\s+-\s*$/);
    expect(renderRangesTable([])).toBe('no ranges');
  });
});

/**
 * One attempt from work directory to report (runJob), with real payload processes and the task
 * bucket in fauxqs: stage-in with checksums, the declared outputs, and the attempt's one log
 * object with the pilot's notes around the payload's output.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { ClaimedJob, ReportInput } from '#core/api/pilots.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import { ATTEMPT_LOG_NAME, attemptLogKey, attemptPrefix } from '#core/storage/object-keys.ts';
import { adler32 } from '#pilot/adler32.ts';
import { jobDirName, type RunJobContext, runJob } from '#pilot/run-job.ts';
import { S3Storage } from '#pilot/s3-storage.ts';
import { PILOT_VERSION } from '#pilot/version.ts';
import { silentLogger } from '#platform/logger.ts';

const BUCKET = 'gluon-pilot-test';
const OTHER_BUCKET = 'gluon-pilot-test-other';

let s3: S3Client;
let workRoot: string;

beforeAll(async () => {
  s3 = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: inject('awsEndpoints').s3,
    forcePathStyle: true,
  });
  for (const bucket of [BUCKET, OTHER_BUCKET]) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
    }
  }
});

afterAll(() => {
  s3.destroy();
});

beforeEach(() => {
  workRoot = mkdtempSync(join(tmpdir(), 'gluon-run-job-'));
});

afterEach(() => {
  rmSync(workRoot, { recursive: true, force: true });
});

function taskId(): string {
  return `t-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

function makeJob(overrides: Partial<ClaimedJob> = {}): ClaimedJob {
  const id = overrides.taskId ?? taskId();
  const jobIndex = overrides.jobIndex ?? 3;
  const attempt = overrides.attempt ?? 2;
  return {
    taskId: id,
    jobId: `${id}.${jobIndex}`,
    jobIndex,
    attempt,
    payload: {
      command: 'sh',
      args: ['-c', 'echo "hello from the payload"; echo result > out.txt'],
      env: {},
      sandbox: [],
    },
    resources: { cores: 1, memoryMB: 2000, walltimeSec: 60, diskMB: 100 },
    outputs: ['out.txt'],
    outputPrefix: attemptPrefix(id, jobIndex, attempt),
    logKey: attemptLogKey(id, jobIndex, attempt),
    ...overrides,
  };
}

function context(overrides: Partial<RunJobContext> = {}): RunJobContext {
  return {
    storage: new S3Storage(s3, BUCKET, { retries: 1, backoffMs: 10 }),
    workRoot,
    host: 'wn01.example.org',
    pilotId: 'p-runjob01',
    siteId: 'site-a',
    killGraceMs: 1000,
    logCapBytes: 2 ** 20,
    logger: silentLogger,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function objectText(key: string, bucket = BUCKET): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await object.Body?.transformToString('utf8')) ?? '';
}

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

/** The log object matches what the report says of it. */
async function expectLogOf(job: ClaimedJob, report: ReportInput): Promise<string> {
  const text = await objectText(job.logKey);
  expect(report.log).toEqual({
    name: ATTEMPT_LOG_NAME,
    key: job.logKey,
    bytes: Buffer.byteLength(text),
    adler32: adler32(text),
  });
  return text;
}

describe('runJob', () => {
  it('uploads the declared outputs and one log object with the pilot’s notes around the payload’s output when the payload succeeds', async () => {
    const job = makeJob();
    const spawned: number[] = [];
    const report = await runJob(job, context({ onSpawn: (pid) => spawned.push(pid) }));

    expect(report).toMatchObject({
      taskId: job.taskId,
      jobIndex: 3,
      attempt: 2,
      pilotErrorCode: PILOT_ERROR_CODES.OK,
      exitCode: 0,
      host: 'wn01.example.org',
      outputs: [
        { name: 'out.txt', key: `${job.outputPrefix}out.txt`, bytes: 7, adler32: adler32('result\n') },
      ],
    });
    expect(spawned).toHaveLength(1);
    expect(await objectText(`${job.outputPrefix}out.txt`)).toBe('result\n');
    const log = await expectLogOf(job, report);
    const lines = log.split('\n');
    expect(lines[0]).toBe(`# gluon-pilot ${PILOT_VERSION}: task ${job.taskId}, job 3, attempt 2`);
    expect(lines[1]).toMatch(/^# pilot p-runjob01 at site site-a on wn01\.example\.org, claimed \d{4}-/);
    expect(lines[2]).toBe('# command: "sh" "-c" "echo \\"hello from the payload\\"; echo result > out.txt"');
    expect(log).toContain(
      '# ---- payload output ----\nhello from the payload\n# ---- end of payload output ----\n',
    );
    expect(log).toMatch(/^# ended \S+: OK \(0\) success$/m);
    expect(log).toContain('# exit code 0\n');
    expect(log).toContain(`# output: out.txt 7 bytes adler32 ${adler32('result\n')}\n`);
    // Nothing but the outputs and the one log under the attempt's prefix; nothing left on disk.
    expect(await keysUnder(job.outputPrefix)).toEqual([job.logKey, `${job.outputPrefix}out.txt`].sort());
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('stages in the sandbox and the inputs of both buckets, verified, and gives the payload their local names', async () => {
    const script =
      '#!/bin/sh\necho "$GLUON_INPUT_FILES" > out.txt\ncat EVNT.01.root HITS.02.root | wc -c >> out.txt\n';
    const sandboxKey = `sandboxes/alice/${randomUUID()}/run.sh`;
    const content = 'event data\n'.repeat(1000);
    const other = 'other bucket data\n';
    const inputKey = `inputs/${randomUUID()}/EVNT.01.root`;
    const otherKey = `mc/${randomUUID()}/HITS.02.root`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: sandboxKey, Body: script }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: inputKey, Body: content }));
    await s3.send(new PutObjectCommand({ Bucket: OTHER_BUCKET, Key: otherKey, Body: other }));
    const job = makeJob({
      payload: {
        command: './run.sh',
        args: [],
        env: {},
        sandbox: [
          {
            name: 'run.sh',
            key: sandboxKey,
            sha256: createHash('sha256').update(script).digest('hex'),
            bytes: Buffer.byteLength(script),
          },
        ],
      },
      inputs: [
        { name: inputKey, adler32: adler32(content), bytes: content.length },
        { name: `s3://${OTHER_BUCKET}/${otherKey}`, adler32: adler32(other) },
      ],
    });

    const report = await runJob(job, context());
    expect(report.pilotErrorCode, report.errorMessage).toBe(PILOT_ERROR_CODES.OK);
    expect(await objectText(`${job.outputPrefix}out.txt`)).toBe(
      `EVNT.01.root,HITS.02.root\n${content.length + other.length}\n`,
    );
    const log = await expectLogOf(job, report);
    expect(log).toContain(`# input: ${inputKey} -> EVNT.01.root adler32 ${adler32(content)}\n`);
    expect(log).toContain(
      `# input: s3://${OTHER_BUCKET}/${otherKey} -> HITS.02.root adler32 ${adler32(other)}\n`,
    );
  });

  it('reports STAGE_IN_FAILED naming the mismatch, runs nothing, and still uploads the log when an input’s checksum is wrong', async () => {
    const content = 'event data\n';
    const inputKey = `inputs/${randomUUID()}/EVNT.01.root`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: inputKey, Body: content }));
    const spawned: number[] = [];
    const job = makeJob({ inputs: [{ name: inputKey, adler32: '00000001' }] });

    const report = await runJob(job, context({ onSpawn: (pid) => spawned.push(pid) }));
    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(report.errorMessage).toContain(
      `checksum mismatch for ${inputKey}: got adler32 ${adler32(content)}, expected 00000001`,
    );
    expect(report.usage).toEqual({ wallTimeSec: 0, cpuTimeSec: 0, maxRssKB: 0 });
    expect(report.outputs).toEqual([]);
    expect(spawned).toEqual([]);
    const log = await expectLogOf(job, report);
    expect(log).toContain(`# gluon-pilot ${PILOT_VERSION}: task ${job.taskId}, job 3, attempt 2`);
    expect(log).toMatch(/^# ended \S+: STAGE_IN_FAILED \(1201\) /m);
    expect(log).toContain('# error: stage-in failed: checksum mismatch');
    expect(await keysUnder(job.outputPrefix)).toEqual([job.logKey]);
  });

  it('stages a catalog file in from its next replica when the first is missing or corrupt, noting each in the log', async () => {
    const content = 'good replica\n';
    const key = `data/${randomUUID()}/AOD.01.root`;
    const corrupt = `data/${randomUUID()}/AOD.01.root`;
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: corrupt, Body: 'changed after registration\n' }),
    );
    await s3.send(new PutObjectCommand({ Bucket: OTHER_BUCKET, Key: key, Body: content }));
    const job = makeJob({
      payload: { command: 'sh', args: ['-c', 'cat "$GLUON_INPUT_FILES" > out.txt'], env: {}, sandbox: [] },
      inputs: [
        {
          name: 'user.alice:AOD.01.root',
          adler32: adler32(content),
          bytes: content.length,
          replicas: [
            { endpointId: 'GONE', url: `s3://${BUCKET}/data/${randomUUID()}/missing` },
            { endpointId: 'CORRUPT', url: `s3://${BUCKET}/${corrupt}` },
            { endpointId: 'GOOD', url: `s3://${OTHER_BUCKET}/${key}` },
          ],
        },
      ],
    });

    const report = await runJob(job, context());
    expect(report.pilotErrorCode, report.errorMessage).toBe(PILOT_ERROR_CODES.OK);
    expect(await objectText(`${job.outputPrefix}out.txt`)).toBe(content);
    const log = await expectLogOf(job, report);
    expect(log).toMatch(/^# stage-in of user\.alice:AOD\.01\.root from GONE failed \(.+\); trying CORRUPT$/m);
    expect(log).toMatch(
      /^# stage-in of user\.alice:AOD\.01\.root from CORRUPT failed \(.*checksum mismatch.*\); trying GOOD$/m,
    );
    expect(log).toContain('# input: user.alice:AOD.01.root -> AOD.01.root');
  });

  it('reports STAGE_IN_FAILED naming every replica when none can be read, and when none may be read here', async () => {
    const job = makeJob({
      inputs: [
        {
          name: 'user.alice:AOD.02.root',
          adler32: '00000001',
          replicas: [{ endpointId: 'GONE', url: `s3://${BUCKET}/data/${randomUUID()}/missing` }],
        },
      ],
    });
    const report = await runJob(job, context());
    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(report.errorMessage).toMatch(/user\.alice:AOD\.02\.root: every replica failed \(GONE: /);

    const none = makeJob({ inputs: [{ name: 'user.alice:AOD.03.root', replicas: [] }] });
    const refused = await runJob(none, context());
    expect(refused.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(refused.errorMessage).toContain('no replica this site may read');
  });

  it('reports STAGE_IN_FAILED when a sandbox file does not match its sha256', async () => {
    const key = `sandboxes/alice/${randomUUID()}/run.sh`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'echo tampered\n' }));
    const job = makeJob({
      payload: {
        command: './run.sh',
        args: [],
        env: {},
        sandbox: [{ name: 'run.sh', key, sha256: '0'.repeat(64), bytes: 14 }],
      },
    });
    const report = await runJob(job, context());
    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_IN_FAILED);
    expect(report.errorMessage).toContain('checksum mismatch');
  });

  it('reports OUTPUT_MISSING naming the output, with the exit code and the log, when the payload does not write a declared output', async () => {
    const job = makeJob({
      payload: { command: 'sh', args: ['-c', 'echo ran'], env: {}, sandbox: [] },
      outputs: ['result.root'],
    });
    const report = await runJob(job, context());
    expect(report).toMatchObject({
      pilotErrorCode: PILOT_ERROR_CODES.OUTPUT_MISSING,
      exitCode: 0,
      outputs: [],
    });
    expect(report.errorMessage).toBe('declared output not written by the payload: result.root');
    const log = await expectLogOf(job, report);
    expect(log).toContain('# ---- payload output ----\nran\n');
    expect(await keysUnder(job.outputPrefix)).toEqual([job.logKey]);
  });

  it('reports the code given as the abort reason when the pilot ends the payload', async () => {
    const stop = new AbortController();
    const job = makeJob({ payload: { command: 'sleep', args: ['30'], env: {}, sandbox: [] }, outputs: [] });
    const running = runJob(
      job,
      context({ signal: stop.signal, onSpawn: () => stop.abort(PILOT_ERROR_CODES.CANCELLED) }),
    );
    const report = await running;
    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
    expect(report.signal).toBe('SIGTERM');
    const log = await expectLogOf(job, report);
    expect(log).toMatch(/^# ended \S+: CANCELLED \(1401\) the job was cancelled by its owner$/m);
  });

  it('fails an otherwise successful attempt with STAGE_OUT_FAILED when its log cannot be uploaded', async () => {
    const job = makeJob({ payload: { command: 'true', args: [], env: {}, sandbox: [] }, outputs: [] });
    const report = await runJob(
      job,
      context({ storage: new S3Storage(s3, 'gluon-no-such-bucket', { retries: 0 }) }),
    );
    expect(report.pilotErrorCode).toBe(PILOT_ERROR_CODES.STAGE_OUT_FAILED);
    expect(report.errorMessage).toMatch(/^stage-out of the log failed: /);
    expect(report.log).toBeUndefined();
    expect(readdirSync(workRoot)).toEqual([]);
  });
});

describe('jobDirName', () => {
  it('names an attempt’s work directory after its task, job and attempt', () => {
    expect(jobDirName({ taskId: 't-abc123', jobIndex: 7, attempt: 3 })).toBe('t-abc123.7.a3');
  });
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/index.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { LocalStack } from '#local/stack.ts';
import {
  Api,
  queueDepth,
  queueUrl,
  sendRaw,
  shellTask,
  sqsFor,
  startTestStack,
  waitFor,
} from '#test/support/e2e.ts';

let stack: LocalStack;
let api: Api;
let sqs: SQSClient;
let siteQueue: string;
let siteDlq: string;

beforeAll(async () => {
  stack = await startTestStack('lifecycle', { pilots: 4, inMemory: true, pilotIdleExitSec: 20 });
  api = new Api(stack.apiUrl, stack.userToken);
  sqs = sqsFor(stack);
  siteQueue = await queueUrl(sqs, 'gluon-local-site-local');
  siteDlq = await queueUrl(sqs, 'gluon-local-site-local-dlq');
});

afterAll(async () => {
  await stack?.stop();
});

function issuesOf(body: unknown): string[] {
  return ((body as ErrorBody).error.issues ?? []).map((i) => i.field);
}

describe('a task through the whole system', () => {
  it('runs a 50-job task to done with every job accounted for and its outputs in S3', async () => {
    const taskId = await api.submit(
      shellTask('fifty', 'echo "job ${jobIndex} attempt ${attempt}" > out.txt; echo "$GLUON_JOB_ID"', {
        events: 50,
        outputs: ['out.txt'],
      }),
    );
    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    expect(task.jobCount).toBe(50);
    expect(task.counts).toMatchObject({
      finished: 50,
      failed: 0,
      cancelled: 0,
      queued: 0,
      running: 0,
    });
    const jobs = await api.jobs(taskId);
    expect(jobs).toHaveLength(50);
    expect(new Set(jobs.map((j) => j.jobIndex)).size).toBe(50);
    for (const job of jobs) {
      expect(job.state).toBe('finished');
      expect(job.attempt).toBe(1);
      expect(job.exitCode).toBe(0);
      expect(job.outputs?.map((o) => o.name)).toEqual(['out.txt']);
    }
    const job7 = jobs[7];
    const key = job7?.outputs?.[0]?.key ?? '';
    expect(key).toBe(`tasks/${taskId}/jobs/7/attempt-1/out.txt`);
    const s3 = new S3Client({
      endpoint: stack.endpoints.s3,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const object = await s3.send(new GetObjectCommand({ Bucket: 'gluon-local', Key: key }));
    expect(await object.Body?.transformToString()).toBe('job 7 attempt 1\n');
    // One log object per attempt: the pilot's notes around the payload's output.
    expect(job7?.log?.key).toBe(`tasks/${taskId}/jobs/7/attempt-1/attempt.log`);
    const log = await s3.send(
      new GetObjectCommand({ Bucket: 'gluon-local', Key: job7?.log?.key ?? 'missing' }),
    );
    const text = (await log.Body?.transformToString()) ?? '';
    expect(text).toContain(`${taskId}.7`);
    expect(text).toContain(`task ${taskId}, job 7, attempt 1`);
    expect(Buffer.byteLength(text)).toBe(job7?.log?.bytes);
    expect(task.history.map((h) => h.state)).toEqual(['submitted', 'splitting', 'running', 'done']);
  });

  it('fails a task whose payload always fails, attempts spent and the error visible on the jobs', async () => {
    const taskId = await api.submit(
      shellTask('always-fails', 'echo "boom at attempt ${attempt}" >&2; exit 3', {
        events: 3,
        maxAttempts: 2,
      }),
    );
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('failed');
    expect(task.counts.failed).toBe(3);
    const jobs = await api.jobsWithAttempts(taskId);
    for (const job of jobs) {
      expect(job.state).toBe('failed');
      expect(job.attempt).toBe(2);
      expect(job.exitCode).toBe(3);
      expect(job.pilotErrorCode).toBe(PILOT_ERROR_CODES.PAYLOAD_FAILED);
      expect(job.errorMessage).toContain('boom at attempt 2');
      expect(job.attempts?.map((a) => [a.attempt, a.state])).toEqual([
        [1, 'failed'],
        [2, 'failed'],
      ]);
    }
  });

  it('ends partial when only some jobs fail', async () => {
    const taskId = await api.submit(
      shellTask('half', 'if [ "${jobIndex}" = 1 ]; then exit 9; fi; true', { events: 3, maxAttempts: 1 }),
    );
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('partial');
    expect(task.counts).toMatchObject({ finished: 2, failed: 1 });
    expect(task.reason).toContain('1 failed');
  });

  it('acknowledges a duplicate job message as a no-op: exactly one claim', async () => {
    const taskId = await api.submit(shellTask('duplicate', 'sleep 3', { events: 1 }));
    await waitFor(async () => (await api.jobs(taskId))[0]?.state === 'running', { what: 'the job to run' });
    await sendRaw(sqs, siteQueue, JSON.stringify({ v: 1, taskId, jobIndex: 0, attempt: 1, siteId: 'local' }));
    await waitFor(
      async () => {
        const depth = await queueDepth(sqs, siteQueue);
        return depth.visible === 0 && depth.inFlight === 0;
      },
      { what: 'the duplicate message to be consumed' },
    );
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('done');
    const job = await api.job(taskId, 0);
    expect(job.attempt).toBe(1);
    expect(job.attempts).toHaveLength(1);
    expect(job.attempts?.[0]?.state).toBe('finished');
  });

  it('sends a malformed job message to the DLQ, untouched', async () => {
    const body = '{"v":1,"taskId":"t-bogus"';
    await sendRaw(sqs, siteQueue, body);
    const received = await waitFor(
      async () => {
        const result = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: siteDlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        return result.Messages?.find((m) => m.Body === body);
      },
      { timeoutMs: 90_000, what: 'the malformed message in the DLQ' },
    );
    expect(received.Body).toBe(body);
  });

  it('cancels a task: queued jobs cancelled, running ones killed, task cancelled', async () => {
    const taskId = await api.submit(shellTask('to-cancel', 'sleep 60', { events: 8 }));
    await waitFor(async () => (await api.task(taskId)).counts.running >= 1, { what: 'a running job' });
    const response = await api.post(`/tasks/${taskId}/cancel`);
    expect(response.status).toBe(202);
    const task = await api.finalTask(taskId, 60_000);
    expect(task.state).toBe('cancelled');
    expect(task.counts.cancelled).toBe(8);
    const jobs = await api.jobsWithAttempts(taskId);
    expect(jobs.every((j) => j.state === 'cancelled')).toBe(true);
    const killed = jobs.filter((j) =>
      j.attempts?.some((a) => a.pilotErrorCode === PILOT_ERROR_CODES.CANCELLED),
    );
    expect(killed.length).toBeGreaterThanOrEqual(1);
    const again = await api.post<ErrorBody>(`/tasks/${taskId}/cancel`);
    expect(again.status).toBe(409);
  });
});

describe('a task its owner steers', () => {
  const gluon = async (...args: string[]) =>
    (
      await promisify(execFile)(process.execPath, ['cli/main.ts', ...args, '--json'], {
        env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
        encoding: 'utf8',
      })
    ).stdout;

  it('pauses: running jobs finish, no job starts; resume: the rest run to done', async () => {
    const taskId = await api.submit(shellTask('steered', 'sleep 2', { events: 12 }));
    await waitFor(async () => (await api.task(taskId)).counts.running >= 1, { what: 'a running job' });
    const paused = JSON.parse(await gluon('pause', taskId)) as { paused: boolean };
    expect(paused.paused).toBe(true);
    // The jobs running at the pause finish; the pilots drop the task's messages as they come.
    const held = await waitFor(
      async () => {
        const task = await api.task(taskId);
        const depth = await queueDepth(sqs, siteQueue);
        return task.counts.running === 0 && depth.visible === 0 && depth.inFlight === 0 ? task : undefined;
      },
      { timeoutMs: 60_000, what: "the running jobs to end and the paused task's messages to be dropped" },
    );
    const heldAt = Date.now();
    // Pilots that received one of the task's messages after the pause dropped it ("paused"); with
    // dispatch holding the task back, none may have come, so the log is not asked for.
    expect(held).toMatchObject({ paused: true, state: 'running' });
    expect(held.counts.queued).toBeGreaterThan(0);
    expect(held.counts.finished + held.counts.queued).toBe(12);

    expect(JSON.parse(await gluon('priority', taskId, '800'))).toMatchObject({ priority: 800, paused: true });
    const resumedAt = Date.now();
    expect(JSON.parse(await gluon('resume', taskId))).toMatchObject({ paused: false });
    const task = await api.finalTask(taskId, 120_000);
    expect(task.state).toBe('done');
    expect(task.counts.finished).toBe(12);
    expect(task.priority).toBe(800);
    // Every job ran once: the messages sent again on resume started no job twice.
    const jobs = await api.jobs(taskId);
    expect(jobs.every((j) => j.state === 'finished' && j.attempt === 1)).toBe(true);
    // No job started while the task was held.
    const startedWhileHeld = jobs.filter((j) => {
      const at = Date.parse(j.startedAt ?? '');
      return at >= heldAt && at < resumedAt;
    });
    expect(startedWhileHeld).toEqual([]);
  });

  it('kills one running job through the CLI: it ends cancelled (1401), the others finish, the task is partial', async () => {
    const taskId = await api.submit(
      shellTask('kill-one', 'if [ "${jobIndex}" = 0 ]; then sleep 60; fi; true', { events: 3 }),
    );
    await waitFor(async () => (await api.jobs(taskId))[0]?.state === 'running', { what: 'job 0 to run' });
    expect(JSON.parse(await gluon('kill', taskId, '--job', '0'))).toMatchObject({
      state: 'running',
      killRequested: true,
    });
    const task = await api.finalTask(taskId, 60_000);
    expect(task.state).toBe('partial');
    expect(task.counts).toMatchObject({ finished: 2, cancelled: 1 });
    const job = await api.job(taskId, 0);
    expect(job.state).toBe('cancelled');
    expect(job.pilotErrorCode).toBe(PILOT_ERROR_CODES.CANCELLED);
  });

  it('refuses to steer an ended task (409) and a priority out of range (400 naming the field)', async () => {
    const taskId = await api.submit(shellTask('ended', 'true'));
    await api.finalTask(taskId);
    expect((await api.post(`/tasks/${taskId}/pause`)).status).toBe(409);
    const bad = await api.request<ErrorBody>('PUT', `/tasks/${taskId}/priority`, { priority: 5000 });
    expect(bad.status).toBe(400);
    expect(issuesOf(bad.body)).toEqual(['priority']);
  });
});

describe('bad input and other users', () => {
  it('rejects a bad task spec with 400 naming every bad field, and stores nothing', async () => {
    const before = (await api.client.all('listTasks', {})).length;
    const response = await api.post('/tasks', {
      name: '',
      payload: { args: ['${nope}'] },
      events: 10,
      split: { eventsPerJob: 0 },
      resources: { cores: -1 },
      colour: 'blue',
    });
    expect(response.status).toBe(400);
    const fields = issuesOf(response.body);
    expect(fields).toEqual(
      expect.arrayContaining(['name', 'payload.command', 'split.eventsPerJob', 'resources.cores', 'colour']),
    );
    const after = (await api.client.all('listTasks', {})).length;
    expect(after).toBe(before);
  });

  it('rejects bad bodies, paths and queries with 400 naming the field', async () => {
    const notJson = await api.request('POST', '/tasks', undefined, '{"name":');
    expect(notJson.status).toBe(400);
    expect(issuesOf(notJson.body)).toEqual(['body']);
    const badId = await api.get('/tasks/not-a-task');
    expect(badId.status).toBe(400);
    expect(issuesOf(badId.body)).toEqual(['path.taskId']);
    const badLimit = await api.get('/tasks?limit=abc');
    expect(badLimit.status).toBe(400);
    expect(issuesOf(badLimit.body)).toEqual(['query.limit']);
    const badState = await api.get('/tasks/t-0000000000/jobs?state=sleeping');
    expect(badState.status).toBe(400);
    expect(issuesOf(badState.body)).toEqual(['query.state']);

    const pilot = new Api(stack.apiUrl, stack.pilotToken);
    const registration = await pilot.post('/pilots', {
      siteId: 'local',
      host: 'h',
      pid: -4,
      resources: { cores: 1 },
    });
    expect(registration.status).toBe(400);
    expect(issuesOf(registration.body)).toEqual(
      expect.arrayContaining(['pid', 'resources.memoryMB', 'resources.diskMB', 'resources.walltimeLeftSec']),
    );
    const unknownPilot = await pilot.post('/pilots/p-0000000000/complete', {
      taskId: 't-0000000000',
      jobIndex: 0,
      attempt: 1,
      pilotErrorCode: 4242,
      usage: { wallTimeSec: 1, cpuTimeSec: 1, maxRssKB: 1 },
    });
    expect(unknownPilot.status).toBe(400);
    expect(issuesOf(unknownPilot.body)).toEqual(['pilotErrorCode']);
  });

  it('answers 401 without a token and 403 without the scope', async () => {
    const anonymous = new Api(stack.apiUrl, undefined);
    expect((await anonymous.get('/tasks')).status).toBe(401);
    const pilot = new Api(stack.apiUrl, stack.pilotToken);
    expect((await pilot.get('/tasks')).status).toBe(403);
    expect((await api.post('/pilots', {})).status).toBe(403);
    const readOnly = new Api(
      stack.apiUrl,
      await stack.mintToken({ sub: 'reader', scopes: ['compute.read'] }),
    );
    expect((await readOnly.post('/tasks', shellTask('nope', 'true'))).status).toBe(403);
  });

  it("hides another user's task: 404 to read, list jobs or cancel", async () => {
    const taskId = await api.submit(shellTask('mine', 'true'));
    const other = new Api(
      stack.apiUrl,
      await stack.mintToken({
        sub: 'someone-else',
        scopes: ['compute.create', 'compute.read', 'compute.cancel'],
      }),
    );
    expect((await other.get(`/tasks/${taskId}`)).status).toBe(404);
    expect((await other.get(`/tasks/${taskId}/jobs`)).status).toBe(404);
    expect((await other.post(`/tasks/${taskId}/cancel`)).status).toBe(404);
    const theirs = await other.client.all('listTasks', {});
    expect(theirs.map((t) => t.taskId)).not.toContain(taskId);
    expect((await api.finalTask(taskId)).state).toBe('done');
  });
});

describe('sites (the information system)', () => {
  it('lets an operator define a site with its queue, and refuses bad sites and non-operators', async () => {
    const put = await api.request<{ siteId: string; queueUrl: string; status: string }>(
      'PUT',
      '/sites/hpc-a',
      {
        kind: 'hpc',
        status: 'offline',
        slot: { cores: 8, memoryMB: 16000, walltimeSec: 86400, diskMB: 50000 },
        maxPilots: 20,
      },
    );
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ siteId: 'hpc-a', status: 'offline' });
    expect(await queueUrl(sqs, 'gluon-local-site-hpc-a')).toBe(put.body.queueUrl);
    expect(await queueUrl(sqs, 'gluon-local-site-hpc-a-dlq')).toContain('hpc-a-dlq');
    const sites = await api.client.call('listSites', {});
    expect(sites.items.map((s) => s.siteId)).toEqual(['hpc-a', 'local']);

    const bad = await api.request('PUT', '/sites/hpc-b', { slot: { cores: 0 }, status: 'sleeping' });
    expect(bad.status).toBe(400);
    expect(issuesOf(bad.body)).toEqual(expect.arrayContaining(['slot.cores', 'status']));
    expect((await api.client.call('listSites', {})).items).toHaveLength(2);
    const pilot = new Api(stack.apiUrl, stack.pilotToken);
    expect((await pilot.request('PUT', '/sites/hpc-c', {})).status).toBe(403);
  });

  it('fails a task no site can run, saying why for each site', async () => {
    const taskId = await api.submit(shellTask('nowhere', 'true', { sites: { allow: ['hpc-a'] } }));
    const task = await api.finalTask(taskId);
    expect(task.state).toBe('failed');
    expect(task.reason).toContain('NoSiteError');
    expect(task.reason).toContain('hpc-a (site is offline)');
    expect(task.reason).toContain('local (not in sites.allow)');
  });
});

describe('why is my job pending', () => {
  it('tells, through the CLI, that the site allows no pilots, site by site', async () => {
    const put = await api.request('PUT', '/sites/no-pilots', { status: 'online', maxPilots: 0 });
    expect(put.status).toBe(200);
    const taskId = await api.submit(
      shellTask('waiting', 'true', { events: 2, sites: { allow: ['no-pilots'] } }),
    );
    await waitFor(async () => (await api.task(taskId)).counts.queued === 2, { what: 'two queued jobs' });
    // Not spawnSync: this process serves the API the CLI calls.
    const run = await promisify(execFile)(process.execPath, ['cli/main.ts', 'why', taskId, '--json'], {
      env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
      encoding: 'utf8',
    });
    const why = JSON.parse(run.stdout) as {
      findings: string[];
      sites: Array<{ siteId: string; chosen: boolean; rejected?: string }>;
    };
    expect(why.findings[0]).toBe('2 of 2 jobs are queued.');
    expect(why.findings).toContain('Site no-pilots allows no pilots (maxPilots 0).');
    expect(why.sites.find((s) => s.siteId === 'local')).toMatchObject({
      chosen: false,
      rejected: 'not in sites.allow',
    });
    expect((await api.post(`/tasks/${taskId}/cancel`)).status).toBe(202);
    expect((await api.finalTask(taskId)).state).toBe('cancelled');
  });
});

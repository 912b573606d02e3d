import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView, TaskView } from '#core/api/contract.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import { emptyJobCounts } from '#core/tasks/task.ts';
import { FakeApi, job, TASK_ID, TOKEN, taskView } from './fake-api.ts';

const repo = join(import.meta.dirname, '../../..');
const main = join(repo, 'cli/main.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;

/** A fake API of its own for one test (the tests of a file run concurrently). */
async function withApi(test: (api: FakeApi) => Promise<void>): Promise<void> {
  const api = await new FakeApi().start();
  try {
    await test(api);
  } finally {
    await api.stop();
  }
}

/** Runs the real CLI process, from a directory with no .gluon/local.json above it. */
function gluon(
  api: FakeApi,
  args: string[],
  options: { env?: Record<string, string>; auth?: boolean; script?: string } = {},
): Promise<Run> {
  const auth = options.auth === false ? [] : ['--api-url', api.url, '--token', TOKEN];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    NO_COLOR: '1',
    ...options.env,
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.script ?? main, ...args, ...auth],
      { cwd: dir, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gluon-cli-it-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.concurrent('gluon submit', () => {
  it('uploads a local sandbox file and sends the spec with its key and checksum', () =>
    withApi(async (api) => {
      const specDir = join(dir, 'zmumu');
      mkdirSync(specDir, { recursive: true });
      copyFileSync(join(repo, 'examples/zmumu/task.yaml'), join(specDir, 'task.yaml'));
      copyFileSync(join(repo, 'examples/zmumu/zmumu.mjs'), join(specDir, 'zmumu.mjs'));
      const content = readFileSync(join(specDir, 'zmumu.mjs'));
      const sha256 = createHash('sha256').update(content).digest('hex');

      const run = await gluon(api, ['submit', 'zmumu/task.yaml', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ taskId: TASK_ID, jobCount: 10 });

      const [sandbox] = api.find('POST', '/sandboxes');
      expect(JSON.parse(sandbox?.body.toString() ?? '{}')).toEqual({
        files: [{ name: 'zmumu.mjs', sha256, bytes: content.length }],
      });
      const key = `sandboxes/alice/${sha256}/zmumu.mjs`;
      const [put] = api.find('PUT', `/upload/${key}`);
      expect(put?.body.equals(content)).toBe(true);
      expect(put?.authorization).toBeUndefined();

      const [submit] = api.find('POST', '/tasks');
      const spec = JSON.parse(submit?.body.toString() ?? '{}');
      expect(spec.payload.sandbox).toEqual([{ name: 'zmumu.mjs', key, sha256, bytes: content.length }]);
      expect(spec).toMatchObject({ name: 'zmumu-demo', events: 20000, split: { eventsPerJob: 2000 } });
      const order = api.requests.map((r) => `${r.method} ${r.path.split('/')[1]}`);
      expect(order).toEqual(['POST sandboxes', 'PUT upload', 'POST tasks']);
    }));

  it('prints the task id and how to follow it', () =>
    withApi(async (api) => {
      const file = join(dir, 'plain.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'plain',
          payload: { command: 'true' },
          events: 10,
          split: { eventsPerJob: 5 },
        }),
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`submitted task ${TASK_ID} (plain)`);
      expect(run.stdout).toContain(`gluon status ${TASK_ID} --watch`);
      expect(api.find('POST', '/sandboxes')).toHaveLength(0);
    }));

  it('lists every bad field of an invalid spec file, exits 2 and sends nothing', () =>
    withApi(async (api) => {
      const file = join(dir, 'invalid.yaml');
      writeFileSync(
        file,
        [
          'name: "has spaces"',
          'payload:',
          '  command: ""',
          `  args: ["\${nope}"]`,
          'events: 100',
          'split: { eventsPerJob: 10 }',
          'resources: { cores: 0, memoryMB: 500 }',
          'maxAttempts: 11',
          'colour: blue',
        ].join('\n'),
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(2);
      for (const field of [
        'spec.name',
        'spec.payload.command',
        'spec.resources.cores',
        'spec.maxAttempts',
        'spec.colour',
      ]) {
        expect(run.stderr).toMatch(new RegExp(`^  ${field.replaceAll('.', '\\.')}: `, 'm'));
      }
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(api.requests).toHaveLength(0);
    }));

  it('prints the fields of a 400 from the server one per line and exits 1', () =>
    withApi(async (api) => {
      const file = join(dir, 'refused.yaml');
      writeFileSync(
        file,
        'name: refused-by-server\npayload: { command: rm }\nevents: 1\nsplit: { eventsPerJob: 1 }\n',
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error: invalid task spec\n');
      expect(run.stderr).toContain('\n  payload.command: not on the allow list\n');
      expect(run.stderr).toContain('\n  sites.allow.0: unknown site\n');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }));

  it('names a sandbox file that is missing', () =>
    withApi(async (api) => {
      const file = join(dir, 'lost-sandbox.yaml');
      writeFileSync(
        file,
        'name: t\npayload: { command: node, sandbox: [gone.mjs] }\nevents: 1\nsplit: { eventsPerJob: 1 }\n',
      );
      const run = await gluon(api, ['submit', file]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`sandbox file gone.mjs not found: looked for ${join(dir, 'gone.mjs')}`);
      expect(api.requests).toHaveLength(0);
    }));
});

describe.concurrent('gluon status', () => {
  it('prints the task view as JSON', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['status', TASK_ID, '--json']);
      expect(run.code).toBe(0);
      const view = JSON.parse(run.stdout) as TaskView;
      expect(view).toMatchObject({
        taskId: TASK_ID,
        state: 'running',
        counts: { finished: 1, running: 1, queued: 1 },
      });
    }));

  it('shows name, state and the progress bar', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['status', TASK_ID]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`zmumu-demo  ${TASK_ID}`);
      expect(run.stdout).toContain('state: running');
      expect(run.stdout).toContain(' 33% of 3 jobs');
      expect(run.stdout).toContain('finished 1');
      expect(run.stdout).not.toContain('\u001b[');
    }));

  it('follows the task with --watch --json, one line per change, and exits 0 when done', () =>
    withApi(async (api) => {
      const done = { ...emptyJobCounts(), finished: 3 };
      api.taskViews = [
        taskView(),
        taskView(),
        taskView({ counts: { ...emptyJobCounts(), finished: 2, running: 1 } }),
        taskView({ state: 'done', counts: done, endedAt: '2026-11-25T10:02:00.000Z' }),
      ];
      const run = await gluon(api, ['status', TASK_ID, '--watch', '--json', '--interval', '0.05']);
      expect(run.code).toBe(0);
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as TaskView);
      expect(lines.map((l) => [l.state, l.counts.finished])).toEqual([
        ['running', 1],
        ['running', 2],
        ['done', 3],
      ]);
      expect(api.find('GET', `/tasks/${TASK_ID}`)).toHaveLength(4);
    }));

  it('exits 1 when the watched task ends partial, after a summary of its jobs', () =>
    withApi(async (api) => {
      api.taskViews = [
        taskView({ state: 'partial', counts: { ...emptyJobCounts(), finished: 2, failed: 1 } }),
      ];
      api.jobs = [
        job(0),
        job(1),
        job(2, {
          state: 'failed',
          attempt: 3,
          exitCode: 1,
          pilotErrorCode: 1001,
          errorMessage: 'segfault in toy',
        }),
      ];
      const run = await gluon(api, ['status', TASK_ID, '--watch', '--interval', '0.05']);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('partial');
      expect(run.stdout).toContain('attempts: 5 used (2 retries)');
      expect(run.stdout).toContain(`tasks/${TASK_ID}/jobs/0/attempt-1/histogram.json`);
      expect(run.stdout).toContain('job 2 attempt 3: failed: error 1001');
    }));

  it('says when the task does not exist, exit 1', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['status', 't-doesnotexist']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error: task t-doesnotexist not found');
    }));
});

describe.concurrent('gluon jobs, tasks, pilots, cancel', () => {
  it('lists every job across pages with --json', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['jobs', TASK_ID, '--json']);
      expect(run.code).toBe(0);
      const jobs = JSON.parse(run.stdout) as JobView[];
      expect(jobs.map((j) => j.jobIndex)).toEqual([0, 1, 2]);
      expect(jobs[0]).toMatchObject({ state: 'finished', attempt: 1, pilotId: 'p-abcdef1234', exitCode: 0 });
      const pages = api.find('GET', `/tasks/${TASK_ID}/jobs`);
      expect(pages.map((p) => p.query.get('nextToken'))).toEqual([null, '2']);
    }));

  it('stops at --limit and passes --state on', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['jobs', TASK_ID, '--json', '--limit', '1', '--state', 'finished']);
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as JobView[]).map((j) => j.jobIndex)).toEqual([0]);
      const [page] = api.find('GET', `/tasks/${TASK_ID}/jobs`);
      expect(page?.query.get('state')).toBe('finished');
      expect(page?.query.get('limit')).toBe('1');
    }));

  it('prints a jobs table', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['jobs', TASK_ID]);
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^INDEX\s+STATE\s+ATTEMPT\s+SITE\s+PILOT\s+EXIT\s+ERROR\s+WALL S\s+MESSAGE$/);
      expect(lines).toHaveLength(4);
    }));

  it('lists tasks', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['tasks']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(
        new RegExp(`^${TASK_ID}\\s+zmumu-demo\\s+running\\s+3\\s+33%\\s+2026-11-25 10:00:00$`, 'm'),
      );
    }));

  it('lists pilots with --json', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['pilots', '--json']);
      expect(run.code).toBe(0);
      const pilots = JSON.parse(run.stdout) as Pilot[];
      expect(pilots).toHaveLength(1);
      expect(pilots[0]).toMatchObject({
        pilotId: 'p-abcdef1234',
        siteId: 'local',
        host: 'node1',
        pid: 4242,
        state: 'idle',
      });
    }));

  it('cancels a task', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['cancel', TASK_ID]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`cancel requested for task ${TASK_ID}`);
      expect(api.find('POST', `/tasks/${TASK_ID}/cancel`)).toHaveLength(1);
    }));
});

describe.concurrent('configuration and failures', () => {
  it('uses GLUON_API_URL and GLUON_TOKEN', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['pilots', '--json'], {
        auth: false,
        env: { GLUON_API_URL: api.url, GLUON_TOKEN: TOKEN },
      });
      expect(run.code).toBe(0);
      expect(api.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    }));

  it('uses the .gluon/local.json named by GLUON_HOME', () =>
    withApi(async (api) => {
      const home = join(dir, 'home');
      mkdirSync(home, { recursive: true });
      writeFileSync(join(home, 'local.json'), JSON.stringify({ apiUrl: api.url, token: TOKEN }));
      const run = await gluon(api, ['tasks', '--json'], { auth: false, env: { GLUON_HOME: home } });
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toHaveLength(1);
    }));

  it('tells the user to start the stack when nothing is configured, exit 2', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['tasks'], { auth: false });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('npm start');
    }));

  it('explains a refused token', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['tasks'], {
        auth: false,
        env: { GLUON_API_URL: api.url, GLUON_TOKEN: 'wrong' },
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('missing or bad token (the token was refused');
    }));

  it('says the API cannot be reached when nothing listens', () =>
    withApi(async (api) => {
      const port = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        });
      });
      const url = `http://127.0.0.1:${port}`;
      const run = await gluon(api, ['status', TASK_ID], {
        auth: false,
        env: { GLUON_API_URL: url, GLUON_TOKEN: TOKEN },
      });
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe(
        `error: cannot reach the Gluon API at ${url} (is \`npm start\` running?)`,
      );
    }));

  it('runs through the bin shim', () =>
    withApi(async (api) => {
      const run = await gluon(api, ['pilots', '--json'], { script: join(repo, 'bin/gluon.mjs') });
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toHaveLength(1);
    }));
});

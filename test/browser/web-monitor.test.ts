/**
 * The web monitor in a real headless Chromium against a local stack: a task's page follows it to
 * `done`, the Z→μμ histogram and the failure table show what the API and S3 hold, a log link
 * leads to the log, axe finds no serious or critical violation on any page, and another user's
 * token shows nothing of the first user's. Screenshots go to test-results/screenshots/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/api/index.ts';
import { USER_SCOPES } from '#local/auth.ts';
import type { LocalStack } from '#local/stack.ts';
import { seriousViolations } from '#test/support/axe.ts';
import { launchChromium } from '#test/support/chromium.ts';
import { Api, s3For, shellTask, startTestStack } from '#test/support/e2e.ts';

const SCREENSHOTS = join(import.meta.dirname, '../../test-results/screenshots');
const PAGES = ['index.html', 'sites.html', 'accounting.html', 'metrics.html'];

let stack: LocalStack;
let api: Api;
let browser: Browser;
/** The Z→μμ example's task and a task with failed attempts, both of the local user. */
let zmumuTask: string;
let failingTask: string;

const gluon = async (...args: string[]): Promise<string> =>
  (
    await promisify(execFile)(process.execPath, ['cli/main.ts', ...args, '--json'], {
      env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
      encoding: 'utf8',
    })
  ).stdout;

async function pageFor(token: string, path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // The token travels as the link `npm start` prints carries it; the page moves it to sessionStorage.
  await page.goto(`${stack.apiUrl}/web/${path}#token=${token}`);
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The text of every cell of a table, by row (header row excluded). */
function tableRows(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tbody tr`, (rows) =>
    rows.map((row) => [...row.querySelectorAll('th, td')].map((cell) => (cell.textContent ?? '').trim())),
  );
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startTestStack('web', {
    pilots: 3,
    inMemory: true,
    // The machine is shared: advertise less memory than it has, so the pilots' memory check passes.
    pilotArgs: ['--memory-mb', '4000'],
  });
  api = new Api(stack.apiUrl, stack.userToken);
  browser = await launchChromium();
  failingTask = await api.submit(
    shellTask('fails-some', 'echo "job ${jobIndex}"; [ ${jobIndex} -lt 3 ] && exit 3; echo ok > out.txt', {
      events: 6,
      maxAttempts: 2,
      outputs: ['out.txt'],
    }),
  );
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the web monitor', () => {
  it('follows a submitted Z→μμ task on its page until done', async () => {
    zmumuTask = (JSON.parse(await gluon('submit', 'examples/zmumu/task.yaml')) as { taskId: string }).taskId;
    const page = await pageFor(stack.userToken, `task.html?taskId=${zmumuTask}`);
    await page.locator('#task-state').waitFor();
    await page.locator('#task-state[data-state="done"]').waitFor({ timeout: 240_000 });
    expect(await page.locator('#task-state').textContent()).toBe('done');
    await page.locator('#histogram-entries').waitFor({ timeout: 30_000 });
    await screenshot(page, 'task-zmumu');
    await page.close();
  });

  it('draws the merged Z→μμ histogram with the counts of the outputs the jobs wrote', async () => {
    const s3 = s3For(stack);
    const jobs = await api.jobs(zmumuTask);
    const counts = new Array<number>(60).fill(0);
    for (const job of jobs) {
      const key = job.outputs?.find((o) => o.name === 'histogram.json')?.key as string;
      const object = await s3.send(new GetObjectCommand({ Bucket: 'gluon-local', Key: key }));
      const part = JSON.parse(
        await (object.Body as { transformToString(): Promise<string> }).transformToString(),
      ) as {
        counts: number[];
      };
      part.counts.forEach((c, i) => {
        counts[i] = (counts[i] ?? 0) + c;
      });
    }
    s3.destroy();
    const page = await pageFor(stack.userToken, `task.html?taskId=${zmumuTask}`);
    await page.locator('#histogram-entries').waitFor({ timeout: 30_000 });
    const rows = await tableRows(page, '#histogram-chart-table');
    expect(rows.map((r) => Number(r[1]))).toEqual(counts);
    expect(Number(await page.locator('#histogram-entries').textContent())).toBe(
      counts.reduce((a, b) => a + b, 0),
    );
    await page.close();
  });

  it('groups failed attempts by error code with the counts the API gives, and a log link leads to the log', async () => {
    const task = await api.finalTask(failingTask);
    expect(task.state).toBe('partial');
    const jobs: JobView[] = await api.jobsWithAttempts(failingTask);
    const expected = new Map<number, number>();
    for (const job of jobs) {
      for (const a of job.attempts ?? []) {
        if (a.state !== 'finished') expected.set(a.pilotErrorCode, (expected.get(a.pilotErrorCode) ?? 0) + 1);
      }
    }
    expect([...expected.values()].reduce((a, b) => a + b, 0)).toBe(6); // 3 jobs × 2 attempts

    const page = await pageFor(stack.userToken, `task.html?taskId=${failingTask}`);
    await page.locator('#failures-table').waitFor({ timeout: 30_000 });
    const rows = await tableRows(page, '#failures-table');
    expect(new Map(rows.map((r) => [Number(r[0]), Number(r[1])]))).toEqual(expected);
    await screenshot(page, 'task-failures');

    const link = page.locator('#failures-table a').first();
    const linkText = (await link.textContent()) ?? '';
    const [, jobIndex] = /^job (\d+) attempt (\d+)$/.exec(linkText) ?? [];
    await link.click();
    await page.waitForURL((url) => !url.pathname.endsWith('/open.html'), { timeout: 30_000 });
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).toContain(`job ${jobIndex}`);
    await screenshot(page, 'log');
    await page.close();
  });

  it('passes axe with no serious or critical violation on every page', async () => {
    const found: Record<string, string[]> = {};
    for (const path of [...PAGES, `task.html?taskId=${failingTask}`, `task.html?taskId=${zmumuTask}`]) {
      const page = await pageFor(stack.userToken, path);
      await page.locator('body[data-loaded]').waitFor({ timeout: 30_000 });
      if (path.startsWith('task.html')) await page.locator('#jobs-table').waitFor({ timeout: 30_000 });
      found[path] = await seriousViolations(page);
      if (!path.startsWith('task.html')) await screenshot(page, path.replace('.html', ''));
      await page.close();
    }
    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((p) => [p, []])));
  });

  it('shows nothing of the first user to another user', async () => {
    const other = await stack.mintToken({
      sub: 'other-user',
      scopes: USER_SCOPES.filter((s) => s !== 'gluon.admin'),
    });
    const list = await pageFor(other, 'index.html');
    await list.locator('#tasks-table').waitFor({ timeout: 30_000 });
    expect(await tableRows(list, '#tasks-table')).toEqual([]);
    const listText = (await list.locator('body').textContent()) ?? '';
    for (const taskId of [zmumuTask, failingTask]) expect(listText).not.toContain(taskId);
    await screenshot(list, 'other-user-tasks');
    await list.close();

    const task = await pageFor(other, `task.html?taskId=${zmumuTask}`);
    await task.locator('#status.error').waitFor({ timeout: 30_000 });
    expect(await task.locator('#status').textContent()).toContain('No task');
    expect(await task.locator('#task-state').count()).toBe(0);
    expect(await task.locator('#jobs-table').count()).toBe(0);
    expect(await task.locator('#histogram-section').isHidden()).toBe(true);
    await task.close();
  });
});

/**
 * The web monitor's meta-task pages in a real headless Chromium against a local stack: a DAG
 * a → b, a → c, c → d whose node c fails. Its page, opened while it runs, follows it to its end
 * (refreshing on its own) and then shows every node with the state the API gives, one arrow per
 * edge and node boxes linking to their tasks; the list page lists it; axe finds no serious or
 * critical violation. Screenshots go to test-results/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaTaskView } from '#core/api/meta-tasks.ts';
import { USER_SCOPES } from '#local/auth.ts';
import type { LocalStack } from '#local/stack.ts';
import { seriousViolations } from '#test/support/axe.ts';
import { launchChromium } from '#test/support/chromium.ts';
import { Api, startTestStack, waitFor } from '#test/support/e2e.ts';

const SCREENSHOTS = join(import.meta.dirname, '../../test-results/screenshots');
const FINAL = ['done', 'partial', 'failed', 'cancelled'];

let stack: LocalStack;
let api: Api;
let browser: Browser;
let metaTaskId: string;

/** A node's task: a shell payload writing out.txt (from its inputs when it has a parent). */
function shellNode(script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    payload: { command: 'sh', args: ['-c', script] },
    resources: { cores: 1, memoryMB: 256, walltimeSec: 120, diskMB: 100 },
    maxAttempts: 1,
    outputs: ['out.txt'],
    ...extra,
  };
}
const READ_INPUTS = 'for f in $(echo "$GLUON_INPUT_FILES" | tr , " "); do cat "$f"; done > out.txt';

async function pageFor(path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${stack.apiUrl}/web/${path}#token=${stack.userToken}`);
  return page;
}

const view = (): Promise<MetaTaskView> => api.client.call('getMetaTask', { params: { metaTaskId } });

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startTestStack('web-dag', { pilots: 2, inMemory: true, pilotArgs: ['--memory-mb', '4000'] });
  api = new Api(stack.apiUrl, stack.userToken);
  browser = await launchChromium();
  metaTaskId = (
    await api.client.call('submitMetaTask', {
      body: {
        name: 'web-dag',
        shape: 'dag',
        nodes: [
          {
            name: 'a',
            task: shellNode('echo "a ${jobIndex}" > out.txt', { events: 2, split: { eventsPerJob: 1 } }),
          },
          { name: 'b', task: shellNode(READ_INPUTS, { split: { filesPerJob: 10 } }) },
          // c runs after a without reading its outputs (a node with events only waits for its parent).
          {
            name: 'c',
            task: shellNode('echo "c fails" >&2; exit 1', { events: 1, split: { eventsPerJob: 1 } }),
          },
          { name: 'd', task: shellNode(READ_INPUTS, { split: { filesPerJob: 10 } }) },
        ],
        edges: [
          { from: 'a', to: 'b' },
          { from: 'a', to: 'c' },
          { from: 'c', to: 'd' },
        ],
      },
    })
  ).metaTaskId;
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the meta-task pages', () => {
  it('follow a running DAG to its end and show every node with the state the API gives', async () => {
    const page = await pageFor(`dag.html?id=${metaTaskId}`);
    await page.locator('#dag-state').waitFor({ timeout: 30_000 });
    // Opened while it runs: the page refreshes itself until the meta-task ends.
    const ended = await waitFor(
      async () => {
        const v = await view();
        return FINAL.includes(v.state) ? v : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: `meta-task ${metaTaskId} to end` },
    );
    expect(ended.state).toBe('partial');
    await page.locator(`#dag-state[data-state="${ended.state}"]`).waitFor({ timeout: 30_000 });
    const shown = await page.$$eval('#dag-svg .dag-node', (nodes) =>
      Object.fromEntries(nodes.map((n) => [n.getAttribute('data-node'), n.getAttribute('data-state')])),
    );
    expect(shown).toEqual(Object.fromEntries(ended.nodes.map((n) => [n.name, n.state])));
    expect(shown).toMatchObject({ a: 'done', b: 'done', c: 'failed', d: 'skipped' });

    const edges = await page.$$eval('#dag-svg line.dag-edge', (lines) =>
      lines.map((l) => `${l.getAttribute('data-from')}->${l.getAttribute('data-to')}`).sort(),
    );
    expect(edges).toEqual(ended.edges.map((e) => `${e.from}->${e.to}`).sort());

    // A node with a task links to its task's page; the skipped one has no task and no link.
    for (const node of ended.nodes) {
      const href = await page
        .locator(`#dag-svg a:has(.dag-node[data-node="${node.name}"])`)
        .getAttribute('href', { timeout: 1000 })
        .catch(() => null);
      expect(href, node.name).toBe(node.taskId === undefined ? null : `task.html?taskId=${node.taskId}`);
    }
    const described = await page.locator('#dag-svg').getAttribute('aria-describedby');
    const text = (await page.locator(`#${described}`).textContent()) ?? '';
    for (const node of ended.nodes) expect(text).toContain(`${node.name} (`);
    expect(text).toContain('a → c, when a is done');
    expect(text).toContain('d (task): skipped');
    await page.screenshot({ path: join(SCREENSHOTS, 'dag-partial.png'), fullPage: true });
    await page.close();
  });

  it('list the meta-task with its state, linking to its page', async () => {
    const page = await pageFor('dags.html');
    await page.locator('#meta-tasks-table').waitFor({ timeout: 30_000 });
    const row = page.locator('#meta-tasks-table tbody tr', { hasText: metaTaskId });
    expect(await row.locator('a').getAttribute('href')).toBe(`dag.html?id=${metaTaskId}`);
    expect((await row.locator('[data-state]').textContent())?.trim()).toBe((await view()).state);
    await page.close();
  });

  it('pass axe with no serious or critical violation', async () => {
    const found: Record<string, string[]> = {};
    for (const path of ['dags.html', `dag.html?id=${metaTaskId}`]) {
      const page = await pageFor(path);
      await page.locator('body[data-loaded]').waitFor({ timeout: 30_000 });
      if (path.startsWith('dag.html')) await page.locator('#dag-svg').waitFor({ timeout: 30_000 });
      found[path] = await seriousViolations(page);
      await page.close();
    }
    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((p) => [p, []])));
  });

  it('show another user no meta-task of the first', async () => {
    const other = await stack.mintToken({
      sub: 'other-user',
      scopes: USER_SCOPES.filter((s) => s !== 'gluon.admin'),
    });
    const page = await browser.newPage();
    await page.goto(`${stack.apiUrl}/web/dag.html?id=${metaTaskId}#token=${other}`);
    await page.locator('#status.error').waitFor({ timeout: 30_000 });
    expect(await page.locator('#status').textContent()).toContain('No meta-task');
    expect(await page.locator('#dag-svg').count()).toBe(0);
    await page.close();
  });
});

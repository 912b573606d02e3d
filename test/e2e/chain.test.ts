/**
 * The Z→μμ chain on the local stack (issue 11 §7): examples/zmumu/chain.yaml, scaled down to
 * 2000 events in 4 generation jobs, runs as one meta-task gen → reco → merge → hist to the end,
 * and its final histogram equals the one computed here directly from the generated events (read
 * from S3 through the outputs the API lists), reconstructed, selected and filled in-process.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ApiClient, submitMetaTaskFile } from '#cli/index.ts';
import type { MetaTaskView } from '#core/api/meta-tasks.ts';
import { renderGraph } from '#core/meta-tasks/graph-text.ts';
import { LOCAL_BUCKET, type LocalStack } from '#local/stack.ts';
import { checkChainHistogram } from '#local/zmumu-chain.ts';
import { s3For, startTestStack, waitFor } from '#test/support/e2e.ts';
import type { ChainHistogram } from '../../examples/zmumu/histogram.mjs';

const EXAMPLE = join(import.meta.dirname, '../../examples/zmumu');

let stack: LocalStack;
let client: ApiClient;

interface NodeSpec {
  name: string;
  task?: { payload: { sandbox: string[] }; events?: number; split: Record<string, number> };
  merge?: { filesPerMerge: number; payload: { sandbox: string[] } };
}

/** chain.yaml with 2000 events in 4 generation jobs and one reco job per file; sandbox paths made absolute. */
function scaledDownChain(): string {
  const spec = parse(readFileSync(join(EXAMPLE, 'chain.yaml'), 'utf8')) as {
    name: string;
    nodes: NodeSpec[];
  };
  spec.name = 'zmumu-chain-e2e';
  for (const node of spec.nodes) {
    const payload = (node.task ?? node.merge)?.payload as { sandbox: string[] };
    payload.sandbox = payload.sandbox.map((f) => join(EXAMPLE, f));
  }
  const [gen, reco] = spec.nodes as [NodeSpec, NodeSpec];
  Object.assign(gen.task ?? {}, { events: 2000, split: { eventsPerJob: 500 } });
  Object.assign(reco.task ?? {}, { split: { filesPerJob: 1 } });
  const dir = mkdtempSync(join(tmpdir(), 'gluon-chain-e2e-'));
  writeFileSync(join(dir, 'chain.yaml'), stringify(spec));
  return join(dir, 'chain.yaml');
}

beforeAll(async () => {
  stack = await startTestStack('chain', {
    pilots: 3,
    inMemory: true,
    // The machine is shared: advertise less memory than it has, so the pilots' memory check passes.
    pilotArgs: ['--memory-mb', '4000'],
  });
  client = new ApiClient({ apiUrl: stack.apiUrl, token: stack.userToken });
});

afterAll(async () => {
  await stack?.stop();
});

describe('the Z→μμ chain', () => {
  it('runs gen → reco → merge → hist to the end, and its histogram equals the one computed from the generated events', async () => {
    const { metaTaskId } = await submitMetaTaskFile(client, scaledDownChain());
    let last: MetaTaskView | undefined;
    const view = await waitFor(
      async () => {
        last = await client.call('getMetaTask', { params: { metaTaskId } });
        return ['done', 'partial', 'failed', 'cancelled'].includes(last.state) ? last : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: `meta-task ${metaTaskId} to end` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen:\n${last === undefined ? '' : renderGraph(last)}`);
    });
    expect(view.state).toBe('done');
    expect(view.nodes.map((n) => [n.name, n.type, n.state])).toEqual([
      ['gen', 'task', 'done'],
      ['reco', 'task', 'done'],
      ['merge', 'merge', 'done'],
      ['hist', 'task', 'done'],
    ]);
    // 4 events files → 4 reco jobs → 2 merge jobs (3 files + 1) → 1 histogram job.
    expect(view.nodes.map((n) => n.jobCount)).toEqual([4, 4, 2, 1]);
    expect(view.nodes[2]?.outputDataset).toMatch(/:zmumu-chain-e2e\.merge\.m-[0-9a-z]+\.merged$/);
    expect(view.nodes[0]?.outputDataset).toMatch(/:zmumu-chain-e2e\.gen\.m-[0-9a-z]+\.output$/);

    const s3 = s3For(stack);
    const check = await checkChainHistogram({
      client: client.client,
      s3,
      bucket: LOCAL_BUCKET,
      genTaskId: view.nodes[0]?.taskId as string,
      histTaskId: view.nodes[3]?.taskId as string,
    });
    s3.destroy();
    expect(check.generatedEvents).toBe(2000);
    expect(check.generatedFiles).toBe(4);
    expect(check.histogramFiles).toBe(1);
    expect(check.direct.selected).toBeGreaterThan(1000);
    expect(check.final.counts).toEqual(check.direct.counts);
    expect(check.final.selected).toBe(check.direct.selected);
    expect((check.final as ChainHistogram).events).toEqual(check.direct.events);
    expect(check.equal).toBe(true);
  });
});

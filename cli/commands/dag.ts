import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { MetaTaskIdSchema, type MetaTaskView } from '#core/api/meta-tasks.ts';
import { renderGraph } from '#core/meta-tasks/graph-text.ts';
import type { ApiClient } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, type CliIo, writeLine } from '../cli-io.ts';
import { readMetaTaskSpecFile, submitLocalMetaTask } from '../meta-task-file.ts';
import { renderTable, shortTime } from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  clientFor,
  parsePositiveSeconds,
  printJson,
} from './common.ts';

const DAG_HELP = `
A meta-task is a chain, bag or DAG of tasks. Each node is a task (a task spec without a name:
its task is named <meta-task>.<node>) or a merge step; an edge passes the parent's output dataset
to the child as its input (inputs: {dataset: …}), and starts the child when the parent ends as the
edge allows (when: done, or when: partial with minFraction of its jobs finished). A node that
fails stops the nodes below it (skipped); the other branches run on.

  name: zmumu-chain
  shape: dag                     # chain (edges from node order) | bag (no edges) | dag
  nodes:
    - name: gen
      task: { payload: {command: gen.sh}, events: 1000, split: {eventsPerJob: 100}, outputs: [events.jsonl] }
    - name: reco
      task: { payload: {command: reco.sh, args: ['\${inputFiles}']}, outputs: [reco.jsonl] }
      inputsOptions: { remoteRead: true }          # merged into the input the edge gives
    - name: merge
      merge: { filesPerMerge: 4, payload: {command: merge.sh}, outputs: [merged.jsonl] }
  edges:
    - { from: gen, to: reco }
    - { from: reco, to: merge, when: partial, minFraction: 0.8 }

A merge step is a task over its parent's outputs with filesPerMerge files per job; its outputs
are registered as the dataset <your scope>:<meta-task>.<node>.merged. A node's sandbox entries
may be local paths (relative to the spec file): they are uploaded as by \`gluon submit\`, each
distinct file once (examples/zmumu/chain.yaml does so).

Examples:
  gluon dag submit chain.yaml --watch
  gluon dag status m-mhx3k2a0q8f3z1c9w4
  gluon dag pause|resume|cancel m-mhx3k2a0q8f3z1c9w4
  gluon dag retry m-mhx3k2a0q8f3z1c9w4     # failed nodes and those skipped below them run again
`;

const FINAL = new Set(['done', 'partial', 'failed', 'cancelled']);

function checkMetaTaskId(id: string): string {
  const parsed = MetaTaskIdSchema.safeParse(id);
  if (!parsed.success) throw new CliError(`${id}: not a meta-task id (m-…)`, { exitCode: 2 });
  return id;
}

/** Prints the graph, and with `watch`, again on every change until the meta-task ends. */
async function show(
  io: CliIo,
  client: ApiClient,
  metaTaskId: string,
  options: CommonOptions & { watch?: boolean; intervalSec?: number },
): Promise<MetaTaskView> {
  let last = '';
  for (;;) {
    const view = await client.call('getMetaTask', { params: { metaTaskId } });
    if (options.json) printJson(io, view, !options.watch);
    else {
      const text = renderGraph(view);
      if (text !== last) writeLine(io.stdout, options.watch ? `${text}\n` : text);
      last = text;
    }
    if (!options.watch || FINAL.has(view.state)) return view;
    await sleep((options.intervalSec ?? 5) * 1000);
  }
}

export function registerDag(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const dag = program
    .command('dag')
    .description('meta-tasks: chains, bags and DAGs of tasks, with merge steps')
    .addHelpText('after', DAG_HELP);

  addCommonOptions(
    dag
      .command('submit')
      .description('submit a meta-task spec (YAML or JSON); prints its id')
      .argument('<file>', 'the meta-task spec')
      .option('--watch', 'then show its graph until it ends')
      .option('--interval <sec>', 'seconds between refreshes with --watch', parsePositiveSeconds, 5),
  ).action(async (file: string, options: CommonOptions & { watch?: boolean; interval: number }) => {
    // Read and checked before any request; node sandboxes given as local paths are uploaded.
    const local = await readMetaTaskSpecFile(file, io.cwd);
    const client = clientFor(io, options);
    const { metaTaskId } = await submitLocalMetaTask(client, local);
    if (!options.watch) {
      if (options.json) printJson(io, { metaTaskId });
      else writeLine(io.stdout, `meta-task ${metaTaskId} submitted`);
      return;
    }
    const view = await show(io, client, metaTaskId, { ...options, intervalSec: options.interval });
    if (view.state !== 'done') ctx.exitCode = 1;
  });

  addCommonOptions(
    dag
      .command('status')
      .description(
        'the graph of a meta-task: each node in topological order with its state, task and job counts',
      )
      .argument('<metaTaskId>', 'm-…')
      .option('--watch', 'refresh until it ends')
      .option('--interval <sec>', 'seconds between refreshes with --watch', parsePositiveSeconds, 5),
  ).action(async (id: string, options: CommonOptions & { watch?: boolean; interval: number }) => {
    await show(io, clientFor(io, options), checkMetaTaskId(id), {
      ...options,
      intervalSec: options.interval,
    });
  });

  addCommonOptions(dag.command('list').description('your meta-tasks, newest first')).action(
    async (options: CommonOptions) => {
      const page = await clientFor(io, options).call('listMetaTasks', { query: { limit: 100 } });
      if (options.json) {
        printJson(io, page);
        return;
      }
      writeLine(
        io.stdout,
        renderTable(
          ['META-TASK', 'NAME', 'STATE', 'NODES', 'CREATED'],
          page.items.map((m) => [m.metaTaskId, m.name, m.state, String(m.nodes), shortTime(m.createdAt)]),
        ),
      );
    },
  );

  const steps = [
    ['cancel', 'cancelMetaTask', "cancel: running nodes' tasks are cancelled, pending nodes never start"],
    ['pause', 'pauseMetaTask', "pause: running nodes' tasks are paused, no new node starts"],
    ['resume', 'resumeMetaTask', 'resume a paused meta-task'],
    [
      'retry',
      'retryMetaTask',
      'retry an ended (failed, partial, cancelled) meta-task: its failed nodes and those skipped below them run again, each as a new task',
    ],
  ] as const;
  for (const [name, operation, description] of steps) {
    addCommonOptions(dag.command(name).description(description).argument('<metaTaskId>', 'm-…')).action(
      async (id: string, options: CommonOptions) => {
        const view = await clientFor(io, options).call(operation, {
          params: { metaTaskId: checkMetaTaskId(id) },
        });
        if (options.json) printJson(io, view);
        else writeLine(io.stdout, renderGraph(view));
      },
    );
  }
}

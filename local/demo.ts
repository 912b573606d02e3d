/**
 * `npm run demo`: the whole system on this machine, start to finish. Starts a local stack (on free
 * ports, data in memory), submits the toy Z→μμ task, shows its progress, prints a summary and the
 * merged invariant-mass histogram from the jobs' outputs in S3, and stops everything.
 * `--chain` runs the Z→μμ chain (examples/zmumu/chain.yaml) as one meta-task instead and checks its
 * final histogram against the one computed directly from the generated events.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Command, InvalidArgumentError } from 'commander';
import { ApiClient, runWatch, submitMetaTaskFile, submitTaskFile } from '#cli/index.ts';
import type { MetaTaskView } from '#core/api/meta-tasks.ts';
import { renderGraph } from '#core/meta-tasks/graph-text.ts';
import { mergeHistograms, peakPosition, textHistogram } from '../examples/zmumu/merge.mjs';
import { LOCAL_BUCKET, startLocalStack } from './stack.ts';
import { checkChainHistogram } from './zmumu-chain.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive whole number');
  return n;
}

const program = new Command()
  .name('npm run demo --')
  .description('Run a toy Z→μμ task through the whole of Gluon on this machine and stop.')
  .option('--spec <file>', 'task spec to submit (default examples/zmumu/task.yaml)')
  .option(
    '--event-service',
    'run the Z→μμ generation as an event-service task (examples/zmumu/task-es.yaml): ranges, consumers, merge',
  )
  .option(
    '--chain',
    'run the Z→μμ chain (examples/zmumu/chain.yaml) as one meta-task: generation → reconstruction → merge → histogram, then check the histogram against the generated events',
  )
  .option('--pilots <n>', 'pilot processes at once', positive, 4)
  .option('--keep-state', 'keep the state folder (printed at the end) instead of a throw-away one')
  .parse();
const options = program.opts<{
  spec?: string;
  eventService?: boolean;
  chain?: boolean;
  pilots: number;
  keepState?: boolean;
}>();
const specFile =
  options.spec ??
  join(REPO, 'examples', 'zmumu', options.eventService === true ? 'task-es.yaml' : 'task.yaml');

const stateDir = mkdtempSync(join(tmpdir(), 'gluon-demo-'));
const quiet = (): void => undefined;
console.log(
  'Starting Gluon on 127.0.0.1: DynamoDB Local, fauxqs (SQS+S3), API, workflow runner, reaper, pilot factory…',
);
const started = Date.now();
const stack = await startLocalStack({
  stateDir,
  apiPort: 0,
  dynamodbPort: 0,
  sqsPort: 0,
  sfnPort: 0,
  eventsPort: 0,
  pilots: options.pilots,
  inMemory: options.keepState !== true,
  log: quiet,
});
let stopping = false;
const stop = async (code: number): Promise<never> => {
  if (!stopping) {
    stopping = true;
    await stack.stop();
  }
  process.exit(code);
};
process.on('SIGINT', () => void stop(130));
process.on('SIGTERM', () => void stop(143));

try {
  console.log(`Up in ${((Date.now() - started) / 1000).toFixed(1)} s; API at ${stack.apiUrl}\n`);
  const client = new ApiClient({ apiUrl: stack.apiUrl, token: stack.userToken });
  if (options.chain === true)
    await stop(await runChain(client, options.spec ?? join(REPO, 'examples', 'zmumu', 'chain.yaml')));
  const submitted = await submitTaskFile(client, specFile, {
    onUploaded: (f) => console.log(`uploaded sandbox file ${f.name} (${f.bytes} bytes)`),
  });
  const es = submitted.spec.eventService;
  console.log(
    es === undefined
      ? `submitted task ${submitted.taskId} (${submitted.spec.name}): ${submitted.jobCount} jobs\n`
      : `submitted event-service task ${submitted.taskId} (${submitted.spec.name}): events in ranges of ${es.rangeSize}, ${submitted.jobCount} consumer jobs, then a merge\n`,
  );
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
  const code = await runWatch(io, client, submitted.taskId, { intervalSec: 1 });

  const task = await client.call('getTask', { params: { taskId: submitted.taskId } });
  if (task.outputs !== undefined && task.outputs.length > 0) {
    // An event-service task: its merged outputs, registered on the task.
    await printMassPeak(
      task.outputs.map((o) => o.key),
      'merged output',
    );
  } else {
    const jobs = await client.listAllJobs(submitted.taskId, { limit: 5000 });
    await printMassPeak(
      jobs.flatMap((j) => (j.outputs ?? []).filter((o) => o.name === 'histogram.json').map((o) => o.key)),
      'job outputs merged',
    );
  }
  console.log(`\nEverything ran on this machine. Next: \`npm start\` in one terminal, then`);
  console.log('`npx gluon submit examples/zmumu/task.yaml --watch` in another (see README).');
  if (options.keepState === true) console.log(`State kept in ${stateDir}`);
  await stop(code);
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
  await stop(1);
}

/**
 * The chain demo: submits the meta-task, prints its graph (the `gluon dag status` text) whenever it
 * changes until it ends, then the final histogram and whether it equals the one computed here from
 * the generated events. Exit code 0 when the meta-task is done and the histograms agree.
 */
async function runChain(client: ApiClient, file: string): Promise<number> {
  const submitted = await submitMetaTaskFile(client, file, {
    onUploaded: (f) => console.log(`uploaded sandbox file ${f.name} (${f.bytes} bytes)`),
  });
  console.log(`submitted meta-task ${submitted.metaTaskId} (${file})\n`);
  let shown = '';
  let view: MetaTaskView;
  for (;;) {
    view = await client.call('getMetaTask', { params: { metaTaskId: submitted.metaTaskId } });
    const text = renderGraph(view);
    if (text !== shown) {
      console.log(`${text}\n`);
      shown = text;
    }
    if (['done', 'partial', 'failed', 'cancelled'].includes(view.state)) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const first = view.nodes[0];
  const last = view.nodes.at(-1);
  if (view.state !== 'done' || first?.taskId === undefined || last?.taskId === undefined) {
    console.log(
      `meta-task ${view.metaTaskId} ended ${view.state}${view.reason === undefined ? '' : ` (${view.reason})`}`,
    );
    return 1;
  }
  const check = await checkChainHistogram({
    client: client.client,
    s3: s3Client(),
    bucket: LOCAL_BUCKET,
    genTaskId: first.taskId,
    histTaskId: last.taskId,
  });
  console.log(
    `Dimuon invariant mass after ${view.nodes.map((n) => n.name).join(' → ')}: ${check.final.selected} selected events, ` +
      `${check.final.entries} in ${check.final.low}-${check.final.high} GeV (histogram.json of ${last.name}):`,
  );
  console.log(textHistogram(check.final));
  console.log(`peak at ${peakPosition(check.final).toFixed(2)} GeV (Z mass 91.19 GeV)`);
  console.log(
    `direct: ${check.generatedEvents} generated events from ${check.generatedFiles} files of ${first.name}, reconstructed, ` +
      `selected and filled here: ${check.direct.selected} selected, ${check.direct.entries} in range`,
  );
  console.log(
    `final histogram equals the one computed from the generated events: ${check.equal ? 'yes' : 'no'}`,
  );
  console.log(`\nEverything ran on this machine. Next: \`npm start\` in one terminal, then`);
  console.log('`npx gluon dag submit examples/zmumu/chain.yaml --watch` in another (see README).');
  return check.equal ? 0 : 1;
}

function s3Client(): S3Client {
  return new S3Client({
    endpoint: stack.endpoints.s3,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Reads histogram.json objects from S3 and prints the merged Z peak. */
async function printMassPeak(keys: string[], what: string): Promise<void> {
  const s3 = s3Client();
  if (keys.length === 0) return;
  const histograms = await Promise.all(
    keys.map(async (Key) => {
      const object = await s3.send(new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key }));
      return JSON.parse(await (object.Body?.transformToString() ?? Promise.resolve('{}')));
    }),
  );
  const merged = mergeHistograms(histograms);
  console.log(`\nDimuon invariant mass, ${keys.length} ${what} from s3://${LOCAL_BUCKET}/:`);
  console.log(textHistogram(merged));
  console.log(`peak at ${peakPosition(merged).toFixed(2)} GeV (Z mass 91.19 GeV)`);
}

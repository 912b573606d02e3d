/**
 * `npm run demo`: the whole system on this machine, start to finish. Starts a local stack (on free
 * ports, data in memory), submits the toy Z→μμ task, shows its progress, prints a summary and the
 * merged invariant-mass histogram from the jobs' outputs in S3, and stops everything.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Command, InvalidArgumentError } from 'commander';
import { ApiClient, runWatch, submitTaskFile } from '#cli/index.ts';
import { mergeHistograms, peakPosition, textHistogram } from '../examples/zmumu/merge.mjs';
import { LOCAL_BUCKET, startLocalStack } from './stack.ts';

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
  .option('--pilots <n>', 'pilot processes at once', positive, 4)
  .option('--keep-state', 'keep the state folder (printed at the end) instead of a throw-away one')
  .parse();
const options = program.opts<{
  spec?: string;
  eventService?: boolean;
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

/** Reads histogram.json objects from S3 and prints the merged Z peak. */
async function printMassPeak(keys: string[], what: string): Promise<void> {
  const s3 = new S3Client({
    endpoint: stack.endpoints.s3,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
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

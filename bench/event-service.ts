/**
 * `npm run bench -- --event-service`: an event-service task in stream mode with a trivial payload
 * (stream-payload.mjs; merged by stream-merge.mjs) through consumers whose pilots already wait, on
 * the local stack. Printed (or `--json`), never asserted:
 * - event ranges per second **dispatched**: the submission → the end of the workflow's last
 *   EnqueueRanges step (its invocation, seen in this process where the functions run);
 * - **completed**: the consumers' start → the last range recorded finished, and from the first
 *   range recorded finished (ranges are recorded when their batch is reported, up to 1 s after);
 *   the whole task, merge included;
 * - the cost per range (cost-figures.ts), in dollars per million ranges with S3 apart;
 * - the **pilot's CPU per range**: the pilots' CPU over the task (their exit reports, children
 *   included, less what /proc showed of them just before the submission) less the payload
 *   processes' own CPU, which each writes at its end (process.cpuUsage()); and apart, the pilots'
 *   own CPU (/proc, every 100 ms) over the consumer phase alone, up to the last consumer's end;
 * - the stack process's and DynamoDB Local's CPU per range.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GluonClient } from '#client/gluon-client.ts';
import type { TaskSpecInput } from '#core/tasks/task-spec.ts';
import { functionInvocations } from '#local/lambda-handler.ts';
import type { LocalStack } from '#local/stack.ts';
import { startStack, TRIVIAL_RESOURCES, waitForTask, warmPilots } from './bench-stack.ts';
import { closeCostWindow, costLines, money, openCostWindow } from './cost-figures.ts';
import { processCpuSec, round } from './measure.ts';

const PAYLOAD = fileURLToPath(new URL('./stream-payload.mjs', import.meta.url));
const MERGE = fileURLToPath(new URL('./stream-merge.mjs', import.meta.url));
const OUTPUT = 'out.txt';

export interface EventServiceOptions {
  events: number;
  rangeSize: number;
  /** Consumer jobs, and the site's pilots. */
  consumers: number;
  json?: boolean;
}

function eventServiceTask(o: EventServiceOptions, cpuDir: string): TaskSpecInput {
  return {
    name: 'bench-es',
    payload: { command: process.execPath, args: [PAYLOAD, cpuDir] },
    events: o.events,
    eventService: {
      rangeSize: o.rangeSize,
      consumers: o.consumers,
      mode: 'stream',
      merge: { command: process.execPath, args: [MERGE, cpuDir, OUTPUT, '${inputFiles}'] },
    },
    outputs: [OUTPUT],
    // A consumer lives as long as ranges remain, and the merge stages in a thousand files.
    resources: { ...TRIVIAL_RESOURCES, memoryMB: 256, walltimeSec: 3600, diskMB: 100 },
    maxAttempts: 2,
  };
}

/** Counts the EnqueueRanges steps as they end (every 5 ms, from the functions' meters here). */
function watchEnqueueSteps() {
  let steps = 0;
  let lastEndedAt: number | undefined;
  const timer = setInterval(() => {
    const count = functionInvocations()['enqueue-ranges']?.count ?? 0;
    if (count > steps) {
      steps = count;
      lastEndedAt = Date.now();
    }
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return { steps, lastEndedAt };
    },
  };
}

/**
 * The pilots' own CPU (children apart) every 100 ms: `at(t)` is the sum at the last sample up to
 * t, each pilot at its last reading (one that exited counts what it had).
 */
function samplePilotCpu(stack: LocalStack) {
  const last = new Map<number, number>();
  const samples: Array<{ at: number; sec: number }> = [];
  const read = () => {
    for (const p of stack.factory.alive()) if (p.pid !== undefined) last.set(p.pid, processCpuSec(p.pid));
    samples.push({ at: Date.now(), sec: [...last.values()].reduce((a, b) => a + b, 0) });
  };
  read();
  const timer = setInterval(read, 100);
  return {
    stop: () => clearInterval(timer),
    at: (t: number) => samples.findLast((s) => s.at <= t)?.sec ?? 0,
  };
}

/** The CPU seconds the payload processes wrote at their ends, stream and merge apart. */
function payloadCpu(dir: string) {
  const cpu = { stream: { processes: 0, sec: 0 }, merge: { processes: 0, sec: 0 } };
  for (const file of readdirSync(dir)) {
    const usage = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { user: number; system: number };
    const role = file.startsWith('merge-') ? cpu.merge : cpu.stream;
    role.processes++;
    role.sec += (usage.user + usage.system) / 1e6;
  }
  return cpu;
}

function times(values: Array<string | undefined>): number[] {
  return values
    .map((t) => Date.parse(t ?? ''))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
}

async function measure(stack: LocalStack, api: GluonClient, o: EventServiceOptions) {
  const coldStartSec = await warmPilots(stack, api, o.consumers);
  const cpuDir = mkdtempSync(join(tmpdir(), 'gluon-bench-payload-cpu-'));
  // The pilots' CPU so far (start-up, warm-up): not the task's.
  const pilotCpuBefore = stack.factory.alive().reduce((sum, p) => sum + processCpuSec(p.pid ?? 0, true), 0);
  const pilotsBefore = stack.factory.list().length;
  const window = openCostWindow(stack);
  const enqueueSteps = watchEnqueueSteps();
  const pilotCpu = samplePilotCpu(stack);
  const polls = { polls: 0 };
  const started = Date.now();
  const { taskId } = await api.call('submitTask', { body: eventServiceTask(o, cpuDir) });
  const task = await waitForTask(api, taskId, polls);
  const enqueue = enqueueSteps.stop();
  pilotCpu.stop();
  const ended = Date.parse(task.endedAt ?? '') || Date.now();
  const ranges = task.ranges?.total ?? 0;
  const costs = await closeCostWindow(stack, window, { units: ranges, taskId, polls: polls.polls });

  // After the window: the ranges' report times, the consumers' start and end.
  const finished = times(
    (await api.all('listRanges', { params: { taskId }, query: { limit: 1000, state: 'finished' } })).map(
      (r) => r.updatedAt,
    ),
  );
  const firstFinished = finished[0] ?? ended;
  const lastFinished = finished.at(-1) ?? ended;
  const consumerJobs = (await api.all('listJobs', { params: { taskId } })).filter(
    (j) => j.jobIndex < o.consumers,
  );
  const consumersStart = times(consumerJobs.map((j) => j.startedAt))[0] ?? started;
  const consumersEnd = times(consumerJobs.map((j) => j.endedAt)).at(-1) ?? lastFinished;
  const payload = payloadCpu(cpuDir);
  rmSync(cpuDir, { recursive: true, force: true });
  const payloadSec = payload.stream.sec + payload.merge.sec;
  const pilotsSec = costs.cpuSec.pilots - pilotCpuBefore;
  const consumerPhaseSec = pilotCpu.at(consumersEnd) - pilotCpu.at(started);
  const perRangeMs = (sec: number) => round((sec * 1000) / ranges, 3);
  const rate = (fromMs: number, toMs: number, n = ranges) => round(n / ((toMs - fromMs) / 1000));
  const dispatchedAt = enqueue.lastEndedAt ?? ended;
  return {
    events: o.events,
    rangeSize: o.rangeSize,
    ranges,
    consumers: o.consumers,
    mode: 'stream',
    state: task.state,
    rangeCounts: task.ranges,
    coldStartSec: round(coldStartSec, 1),
    seconds: {
      dispatched: round((dispatchedAt - started) / 1000, 3),
      toConsumersStart: round((consumersStart - started) / 1000, 3),
      consumersStartToLastFinished: round((lastFinished - consumersStart) / 1000, 3),
      firstToLastFinished: round((lastFinished - firstFinished) / 1000, 3),
      lastFinishedToEnd: round((ended - lastFinished) / 1000, 3),
      wholeTask: round((ended - started) / 1000, 3),
    },
    rangesPerSecond: {
      dispatched: rate(started, dispatchedAt),
      completed: rate(consumersStart, lastFinished),
      // The ranges of the first report were done before it: not in the interval.
      completedAfterFirstReport: rate(
        firstFinished,
        lastFinished,
        finished.filter((t) => t > firstFinished).length,
      ),
      wholeTask: rate(started, ended),
    },
    enqueueSteps: enqueue.steps,
    cpuMsPerRange: {
      stackProcess: perRangeMs(costs.cpuSec.stackProcess),
      dynamoDbLocal: perRangeMs(costs.cpuSec.dynamoDbLocal),
      pilotOverhead: perRangeMs(pilotsSec - payloadSec),
      pilotConsumerPhase: perRangeMs(consumerPhaseSec),
      pilotsWithPayloads: perRangeMs(pilotsSec),
      streamPayloads: perRangeMs(payload.stream.sec),
      merge: perRangeMs(payload.merge.sec),
    },
    cpuSec: {
      pilotsOverTheTask: round(pilotsSec, 3),
      pilotsBeforeTheTask: round(pilotCpuBefore, 3),
      pilotsOwnInConsumerPhase: round(consumerPhaseSec, 3),
      streamPayloads: round(payload.stream.sec, 3),
      merge: round(payload.merge.sec, 3),
      stackProcess: round(costs.cpuSec.stackProcess, 3),
      dynamoDbLocal: round(costs.cpuSec.dynamoDbLocal, 3),
    },
    payloadProcesses: { stream: payload.stream.processes, merge: payload.merge.processes },
    pilotsStartedDuringTheTask: stack.factory.list().length - pilotsBefore,
    pilotCpuMeasuredAs:
      "the pilots' exit reports (own CPU and their reaped children's) less /proc of the same pilots before the submission, less the CPU each payload process (stream and merge) wrote at its end (process.cpuUsage(), Node start-up included); the consumer phase: the pilots' own CPU from /proc (every 100 ms), submission → the last consumer's end",
    /** Per range, but for cpuSec (totals), functionRequestMs and historyEvents. */
    costs,
  };
}

function report(r: Awaited<ReturnType<typeof measure>>): string[] {
  const d = r.costs.dollarsPerMillion;
  const ms = r.cpuMsPerRange;
  const sec = r.seconds;
  return [
    `Gluon event-service benchmark: ${r.events} events in ${r.ranges} ranges of ${r.rangeSize}, ${r.consumers} consumers (pilots waiting), stream mode, trivial payload, local stack (task ${r.state})`,
    `  dispatched              ${r.rangesPerSecond.dispatched} ranges/s (all ${r.ranges} sent to the range queue ${sec.dispatched} s after the submission, ${r.enqueueSteps} EnqueueRanges step(s))`,
    `  completed               ${r.rangesPerSecond.completed} ranges/s (target ≥ 500): the consumers' start → the last range recorded finished, ${sec.consumersStartToLastFinished} s`,
    `                          ${r.rangesPerSecond.completedAfterFirstReport} ranges/s from the first range recorded finished to the last (${sec.firstToLastFinished} s)`,
    `  whole task              ${sec.wholeTask} s submission → ${r.state} (${r.rangesPerSecond.wholeTask} ranges/s): ${sec.toConsumersStart} s to the consumers' start, ${sec.lastFinishedToEnd} s from the last range to the end (merge)`,
    `  cold start              ${r.coldStartSec} s (the warm-up task that started the pilots; not in the figures)`,
    `  pilot CPU per range     ${ms.pilotOverhead} ms (target ≤ 1 ms): the pilots' ${r.cpuSec.pilotsOverTheTask} s over the task less the payloads' own ${round(r.cpuSec.streamPayloads + r.cpuSec.merge, 3)} s`,
    `                          (stream ${r.cpuSec.streamPayloads} s in ${r.payloadProcesses.stream} processes, merge ${r.cpuSec.merge} s in ${r.payloadProcesses.merge}); consumer phase alone ${ms.pilotConsumerPhase} ms`,
    `                          how: ${r.pilotCpuMeasuredAs}`,
    `                          apart: the pilots' CPU before the task ${r.cpuSec.pilotsBeforeTheTask} s; pilots started during it: ${r.pilotsStartedDuringTheTask}`,
    `  stack CPU per range     ${round(ms.stackProcess + ms.dynamoDbLocal, 3)} ms (process ${ms.stackProcess} ms with the S3 and SQS stand-ins, DynamoDB Local ${ms.dynamoDbLocal} ms)`,
    ...costLines(r.costs, 'range'),
    `  → control plane ${money(d.controlPlane ?? 0)} per million ranges (target ≤ $1); S3 data plane ${money(d.s3Data ?? 0)} apart`,
    `  (pilot figures from ${r.costs.pilotsReported} pilot exit reports)`,
  ];
}

export async function eventServiceBench(o: EventServiceOptions): Promise<void> {
  const stack = await startStack({ pilots: o.consumers, pilotIdleExitSec: 15 });
  let run: Awaited<ReturnType<typeof measure>>;
  try {
    const api = new GluonClient({ baseUrl: stack.apiUrl, token: stack.userToken, timeoutMs: 60_000 });
    run = await measure(stack, api, o);
  } finally {
    await stack.stop();
  }
  console.log(o.json ? JSON.stringify(run) : report(run).join('\n'));
}

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '#core/api/common.ts';
import type { TaskOutputsResponse } from '#core/api/results.ts';
import type { LocalStack } from '#local/stack.ts';
import { adler32 } from '#pilot/adler32.ts';
import { Api, shellTask, startTestStack } from '#test/support/e2e.ts';

/** Results end to end: outputs and logs a user gets back with `gluon outputs` and `gluon logs`. */
let stack: LocalStack;
let api: Api;
let outputsTask: string;
let failedTask: string;

/** What job N's payload writes: `yes` of one line, cut at 300,000 bytes. */
function expectedBytes(jobIndex: number): Buffer {
  const line = `job ${jobIndex} of the results test\n`;
  return Buffer.from(line.repeat(Math.ceil(300_000 / line.length))).subarray(0, 300_000);
}

async function gluon(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, ['cli/main.ts', ...args], {
    env: { ...process.env, GLUON_API_URL: stack.apiUrl, GLUON_TOKEN: stack.userToken },
    encoding: 'utf8',
  });
}

beforeAll(async () => {
  stack = await startTestStack('results', {
    pilots: 2,
    inMemory: true,
    pilotIdleExitSec: 20,
    // Pilots advertise a small node: their health check wants 90 % of what they advertise free now,
    // which the whole machine's memory is not while other processes share it.
    pilotArgs: ['--memory-mb', '2048'],
  });
  api = new Api(stack.apiUrl, stack.userToken);
  outputsTask = await api.submit(
    shellTask('results-outputs', 'yes "job ${jobIndex} of the results test" | head -c 300000 > out.bin', {
      events: 2,
      outputs: ['out.bin'],
    }),
  );
  failedTask = await api.submit(
    shellTask('results-failed', 'echo "starting"; echo "boom: no calibration for run 42" >&2; exit 3', {
      maxAttempts: 1,
    }),
  );
  expect((await api.finalTask(outputsTask)).state).toBe('done');
  expect((await api.finalTask(failedTask)).state).toBe('failed');
});

afterAll(async () => {
  await stack?.stop();
});

describe('gluon outputs', () => {
  it('downloads what the payloads wrote, byte for byte, with the adler32 the pilots recorded', async () => {
    const { outputs } = await api.client.call('listTaskOutputs', {
      params: { taskId: outputsTask },
      query: {},
    });
    expect(outputs.map((o) => [o.index, o.name, o.sizeBytes])).toEqual([
      [0, 'out.bin', 300_000],
      [1, 'out.bin', 300_000],
    ]);
    const dest = join(stack.stateDir, 'all');
    const { stderr } = await gluon('outputs', outputsTask, '--dest', dest);
    for (const output of outputs) {
      const bytes = readFileSync(join(dest, String(output.index), 'out.bin'));
      expect(bytes.equals(expectedBytes(output.index))).toBe(true);
      expect(adler32(bytes)).toBe(output.adler32);
      expect(stderr).toContain(`adler32 ${output.adler32}  downloaded`);
    }
  });

  it('resumes an interrupted download from its .part and completes it', async () => {
    const dest = join(stack.stateDir, 'interrupted');
    const part = join(dest, '1', 'out.bin.part');
    mkdirSync(join(dest, '1'), { recursive: true });
    writeFileSync(part, expectedBytes(1).subarray(0, 123_456));
    const { stdout } = await gluon('outputs', outputsTask, '--job', '1', '--dest', dest, '--json');
    expect((JSON.parse(stdout) as Array<{ outcome: string }>).map((d) => d.outcome)).toEqual(['resumed']);
    expect(readFileSync(join(dest, '1', 'out.bin')).equals(expectedBytes(1))).toBe(true);
    expect(existsSync(part)).toBe(false);
  });
});

describe('gluon logs', () => {
  it("shows a failed job's stderr", async () => {
    const { stdout } = await gluon('logs', failedTask, '--job', '0');
    expect(stdout).toContain('boom: no calibration for run 42');
    expect(stdout).toContain('starting');
  });

  it("answers another user's token 404 for the log and the outputs, as for the task", async () => {
    const mallory = new Api(
      stack.apiUrl,
      await stack.mintToken({ sub: 'mallory', scopes: ['compute.create', 'compute.read'] }),
    );
    for (const path of [
      `/tasks/${failedTask}/jobs/0/log`,
      `/tasks/${outputsTask}/jobs/0/outputs/out.bin`,
      `/tasks/${outputsTask}/outputs`,
      `/tasks/${outputsTask}`,
    ]) {
      const reply = await mallory.get<ErrorBody & Partial<TaskOutputsResponse>>(path);
      expect(reply.status, path).toBe(404);
      expect(reply.body.error.code, path).toBe('NOT_FOUND');
    }
  });
});

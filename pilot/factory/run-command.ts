import { spawn } from 'node:child_process';

/** The outcome of one batch command (sbatch, squeue, …). */
export interface CommandResult {
  /** Exit code; null when the command was killed (e.g. timed out). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  /** Written to the command's stdin (then closed). */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) past this; default 60 s. */
  timeoutMs?: number;
}

export type CommandRunner = (
  file: string,
  args: string[],
  options?: RunCommandOptions,
) => Promise<CommandResult>;

/** Runs a command without a shell, collects its output. Rejects only when it cannot be started. */
export const runCommand: CommandRunner = (file, args, options = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  cwd: string;
  fetch?: typeof fetch;
}

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(io: CliIo): boolean {
  const noColor = io.env.NO_COLOR;
  return io.stdout.isTTY === true && (noColor === undefined || noColor === '') && io.env.TERM !== 'dumb';
}

export function writeLine(stream: OutputStream, text = ''): void {
  stream.write(`${text}\n`);
}

/** Shared by the commands of one run: the outside world and the exit code to end with. */
export interface CliContext {
  io: CliIo;
  exitCode: number;
}

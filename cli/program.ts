import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ValidationError } from '#core/errors.ts';
import { CliError } from './cli-error.ts';
import { type CliContext, type CliIo, processIo, writeLine } from './cli-io.ts';
import { registerAccounting } from './commands/accounting.ts';
import { registerCancel } from './commands/cancel.ts';
import { registerCatalog } from './commands/catalog.ts';
import { registerConfig } from './commands/config.ts';
import { registerDag } from './commands/dag.ts';
import { registerJob } from './commands/job.ts';
import { registerJobs } from './commands/jobs.ts';
import { registerKill } from './commands/kill.ts';
import { registerLogs } from './commands/logs.ts';
import { registerMetrics } from './commands/metrics.ts';
import { registerNotify } from './commands/notify.ts';
import { registerOutputs } from './commands/outputs.ts';
import { registerPilots } from './commands/pilots.ts';
import { registerRanges } from './commands/ranges.ts';
import { registerResubmit } from './commands/resubmit.ts';
import { registerRetryPolicy } from './commands/retry-policy.ts';
import { registerShares } from './commands/shares.ts';
import { registerSites } from './commands/sites.ts';
import { registerStatus } from './commands/status.ts';
import { registerSteer } from './commands/steer.ts';
import { registerSubmit } from './commands/submit.ts';
import { registerTasks } from './commands/tasks.ts';
import { registerWhy } from './commands/why.ts';
import { renderError } from './render.ts';

/** Exit codes: 0 success, 1 the API or the task failed, 2 bad usage or bad local input. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The repository's version, or the standalone package's (its package.json sits next to the bundle). */
function packageVersion(): string {
  for (const path of ['../package.json', './package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version?: string };
      if (pkg.version !== undefined) return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'dev';
}

/** The `gluon` command tree, writing to the given streams and never calling process.exit. */
export function createProgram(ctx: CliContext): Command {
  const { io } = ctx;
  const program = new Command('gluon')
    .description(
      'Gluon: submit and follow high-energy-physics tasks.\n\n' +
        'Endpoint and token: --api-url/--token; else the --profile profile; else\n' +
        'GLUON_API_URL/GLUON_TOKEN; else the GLUON_PROFILE or current profile (`gluon config\n' +
        "--help`); else the local stack's .gluon/local.json (written by `npm start`; GLUON_HOME\n" +
        'names its directory). A token is also found the WLCG Bearer Token Discovery way\n' +
        '(BEARER_TOKEN, BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID).',
    )
    .version(packageVersion(), '-V, --version')
    // The program's own options only before a command: `gluon retry-policy show --version 3` is the command's.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok; 1 the API refused or the task did not end done; 2 bad usage or bad spec file.\n\n' +
        'Start here:\n  npm start                                  # the local stack, in another terminal\n' +
        '  gluon submit examples/zmumu/task.yaml --watch',
    );
  registerSubmit(program, ctx);
  registerStatus(program, ctx);
  registerTasks(program, ctx);
  registerJobs(program, ctx);
  registerJob(program, ctx);
  registerRanges(program, ctx);
  registerPilots(program, ctx);
  registerCancel(program, ctx);
  registerSteer(program, ctx);
  registerKill(program, ctx);
  registerResubmit(program, ctx);
  registerWhy(program, ctx);
  registerSites(program, ctx);
  registerShares(program, ctx);
  registerRetryPolicy(program, ctx);
  registerLogs(program, ctx);
  registerOutputs(program, ctx);
  registerAccounting(program, ctx);
  registerNotify(program, ctx);
  registerConfig(program, ctx);
  registerMetrics(program, ctx);
  registerDag(program, ctx);
  registerCatalog(program, ctx);
  return program;
}

/** Runs the CLI on user arguments (no `node script` prefix) and returns the exit code. */
export async function runCli(args: string[], io: CliIo = processIo()): Promise<number> {
  const ctx: CliContext = { io, exitCode: EXIT.ok };
  const program = createProgram(ctx);
  try {
    await program.parseAsync(args, { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      writeLine(io.stderr, renderError(error.message, error.issues));
      return error.exitCode;
    }
    if (error instanceof ValidationError) {
      writeLine(io.stderr, renderError('invalid input', error.issues));
      return EXIT.usage;
    }
    const message = error instanceof Error ? error.message : String(error);
    writeLine(io.stderr, renderError(`unexpected: ${message}`));
    if (io.env.GLUON_DEBUG && error instanceof Error && error.stack) writeLine(io.stderr, error.stack);
    return EXIT.failed;
  }
}

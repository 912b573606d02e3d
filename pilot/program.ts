/**
 * The `gluon-pilot` command line. `buildProgram()` returns the commander program with the `run`
 * command; other commands (e.g. `factory`, from pilot/factory) are added to it with
 * `program.addCommand(...)` or `program.command(...)` before `runProgram()` parses the arguments.
 * An action reports its exit code by setting `process.exitCode`; runProgram resolves to it.
 */
import { Command, CommanderError } from 'commander';
import { CONFIG_OPTION, PILOT_OPTIONS } from './config.ts';
import { EXIT_CODES, EXIT_CODES_HELP } from './exit-codes.ts';
import { runCommand } from './run-command.ts';
import { PILOT_VERSION } from './version.ts';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds every option of `gluon-pilot run` (and --config) to a command. */
export function addPilotOptions(command: Command): Command {
  command.option(CONFIG_OPTION.flag, `${CONFIG_OPTION.description} [env ${CONFIG_OPTION.env}]`);
  for (const option of PILOT_OPTIONS) {
    const parts = [option.description, `[env ${option.env}]`];
    if (option.required) parts.push('(required)');
    else if (option.defaultText !== undefined) parts.push(`(default: ${option.defaultText})`);
    if (option.list !== undefined) command.option(option.flag, parts.join(' '), collect);
    else command.option(option.flag, parts.join(' '));
  }
  return command;
}

const PRECEDENCE_HELP =
  '\nEach option comes from its flag, else its GLUON_* variable, else the --config file (YAML or JSON,\n' +
  'keys named like the long options in camelCase: apiUrl, idleExitSec, requirePath: [/cvmfs/a], …), else\n' +
  'its default. AWS endpoints and region come from the usual AWS_* variables (AWS_ENDPOINT_URL_SQS,\n' +
  'AWS_ENDPOINT_URL_S3, AWS_REGION; region default us-east-1).\n' +
  '\nBefore taking work the pilot checks the node (free disk, memory, cores, load, required paths,\n' +
  'the API: reachable and clock skew, token lifetime) and registers the results; if one fails it\n' +
  'takes no work and exits with 3.\n\n';

export function buildProgram(): Command {
  const program = new Command('gluon-pilot')
    .description(
      'Gluon pilot: checks its node, registers with the Gluon API, pulls jobs from its site queue and runs them',
    )
    .version(PILOT_VERSION)
    .exitOverride()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`);
  const run = program
    .command('run')
    .description(
      'check the node, register, then long-poll the site queue, claim, run, stage out and report jobs until ' +
        'idle, out of walltime, max jobs reached, or SIGTERM/SIGINT (which drains: the payload is ended and ' +
        'reported as evicted, and the pilot exits within --drain-sec)',
    )
    .action(async (flags: Record<string, unknown>) => {
      process.exitCode = await runCommand(flags);
    });
  addPilotOptions(run);
  run.addHelpText('after', `${PRECEDENCE_HELP}${EXIT_CODES_HELP}`);
  return program;
}

/** Parses `argv` (as process.argv) and runs the chosen command; resolves to the exit code. */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_CODES.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Asked-for help and version end with 0; commander has printed the message of the others.
      return error.exitCode === 0 ? EXIT_CODES.OK : EXIT_CODES.USAGE;
    }
    process.stderr.write(`gluon-pilot: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT_CODES.FAILURE;
  }
}

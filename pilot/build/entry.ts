/**
 * The `gluon-pilot` program as shipped (dist/gluon-pilot, bin/gluon-pilot.mjs): the pilot's own
 * program (pilot/program.ts: `run`) plus the site's pilot factory (`factory`). No top-level await:
 * the single executable is a CommonJS bundle of this file.
 */
import { addFactoryCommand } from '../factory/factory-command.ts';
import { buildProgram, runProgram } from '../program.ts';

const program = buildProgram();
addFactoryCommand(program);
void runProgram(program, process.argv).then((code) => {
  process.exitCode = code;
});

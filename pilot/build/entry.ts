/**
 * The `gluon-pilot` program as shipped (dist/gluon-pilot, bin/gluon-pilot.mjs): the pilot's own
 * program (pilot/program.ts: `run`) plus the site’s pilot factory (`factory`) and the EC2 instance supervisor (`cloud`). No top-level await:
 * the single executable is a CommonJS bundle of this file.
 */
import { addCloudCommand } from '../cloud/cloud-command.ts';
import { addFactoryCommand } from '../factory/factory-command.ts';
import { buildProgram, runProgram } from '../program.ts';

const program = buildProgram();
addFactoryCommand(program);
addCloudCommand(program);
void runProgram(program, process.argv).then((code) => {
  process.exitCode = code;
});

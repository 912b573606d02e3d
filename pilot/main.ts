#!/usr/bin/env node
/**
 * `gluon-pilot`: the pilot that runs on worker nodes. `gluon-pilot run --help` lists its options
 * and exit codes (pilot/exit-codes.ts). Commands are registered on the program of program.ts.
 */
import { addCloudCommand } from './cloud/cloud-command.ts';
import { addFactoryCommand } from './factory/factory-command.ts';
import { buildProgram, runProgram } from './program.ts';

const program = buildProgram();
addFactoryCommand(program);
addCloudCommand(program);
process.exitCode = await runProgram(program, process.argv);

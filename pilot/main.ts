#!/usr/bin/env node
/**
 * `gluon-pilot`: the pilot that runs on worker nodes. `gluon-pilot run --help` lists its options
 * and exit codes (pilot/exit-codes.ts). Commands are registered on the program of program.ts.
 */
import { buildProgram, runProgram } from './program.ts';

const program = buildProgram();
// Further commands are added here, e.g. program.addCommand(factoryCommand()) from pilot/factory.
process.exitCode = await runProgram(program, process.argv);

/**
 * Interim hook until pilot/main.ts exports a way to add subcommands: pilot/main.ts builds its
 * commander program and parses argv on import, so the `factory` subcommand is added to any root
 * commander program just before it parses. Import this module before pilot/main.ts.
 */
import { Command } from 'commander';
import { addFactoryCommand } from '../factory/factory-command.ts';

function withFactory(program: Command): void {
  if (program.parent === null && !program.commands.some((c) => c.name() === 'factory')) {
    addFactoryCommand(program);
  }
}

const { parse, parseAsync } = Command.prototype;
Command.prototype.parseAsync = function (this: Command, ...args: Parameters<Command['parseAsync']>) {
  withFactory(this);
  return parseAsync.apply(this, args);
};
Command.prototype.parse = function (this: Command, ...args: Parameters<Command['parse']>) {
  withFactory(this);
  return parse.apply(this, args);
};

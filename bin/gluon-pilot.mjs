#!/usr/bin/env node
// The `gluon-pilot` command (the pilot and the site pilot factory, from the TypeScript sources; `npm run build:pilot` makes the single executable dist/gluon-pilot). Needs Node >= 22.18 (it runs the TypeScript sources by type stripping);
// on an older Node it re-runs itself with the project's own Node 22 from node_modules/.bin.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const node = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
  if (!existsSync(node)) {
    process.stderr.write(
      `gluon-pilot needs Node 22.18 or newer (this is ${process.version}); run \`npm ci\` in the Gluon checkout.\n`,
    );
    process.exit(2);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    process.stderr.write(`gluon-pilot: cannot start ${node}: ${error.message}\n`);
    process.exit(2);
  });
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
} else {
  await import('../pilot/build/entry.ts');
}

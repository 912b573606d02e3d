/**
 * Builds the `gluon` command as a package of its own, for machines without this repository:
 * dist/cli/gluon.mjs (one ESM file with every dependency inside, for a stock Node 20 or newer)
 * and a package.json whose `bin` makes `npm install -g dist/cli` (or the tarball `npm pack
 * dist/cli` writes) install a `gluon` command.
 *
 * `node cli/build/build-cli.ts [--out DIR]` (npm run build:cli).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_CLI_DIR = join(REPO_ROOT, 'dist', 'cli');
/** The oldest Node the bundle runs on (its syntax and the Node APIs the CLI uses). */
export const CLI_NODE_MAJOR = 20;

export interface BuiltCli {
  dir: string;
  /** The executable bundle. */
  bin: string;
  sizeBytes: number;
  version: string;
}

export async function buildCli(outDir: string = DEFAULT_CLI_DIR): Promise<BuiltCli> {
  const dir = resolve(outDir);
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version: string;
    description?: string;
  };
  await mkdir(dir, { recursive: true });
  const bin = join(dir, 'gluon.mjs');
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [join(REPO_ROOT, 'cli', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${CLI_NODE_MAJOR}`,
    outfile: bin,
    // The entry's own `#!` line is kept by esbuild. Bundled CommonJS dependencies may call
    // require() for Node built-ins, which an ES module does not have.
    banner: {
      js: "import { createRequire as __gluonCreateRequire } from 'node:module'; const require = __gluonCreateRequire(import.meta.url);",
    },
    legalComments: 'none',
    minifySyntax: true,
    keepNames: true,
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) {
    throw new Error(`esbuild: ${result.warnings.map((w) => w.text).join('; ')}`);
  }
  await chmod(bin, 0o755);
  const manifest = {
    name: 'gluon-cli',
    version: pkg.version,
    description: `${pkg.description ?? 'Gluon'}: the gluon command`,
    type: 'module',
    bin: { gluon: 'gluon.mjs' },
    files: ['gluon.mjs'],
    engines: { node: `>=${CLI_NODE_MAJOR}` },
    license: 'UNLICENSED',
  };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const sizeBytes = (await readFile(bin)).length;
  return { dir, bin, sizeBytes, version: pkg.version };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out');
  const built = await buildCli(at >= 0 ? process.argv[at + 1] : undefined);
  process.stdout.write(
    `wrote ${built.bin} (${(built.sizeBytes / 1024).toFixed(0)} KiB) and its package.json (gluon-cli ${built.version})\n` +
      `install it with: npm install -g ${built.dir}\n`,
  );
}

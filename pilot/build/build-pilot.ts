/**
 * Builds `dist/gluon-pilot`, the pilot as one executable (a Node single-executable application):
 * esbuild bundles pilot/build/entry.ts as CommonJS, this Node makes the SEA blob from it (the blob
 * must come from the same Node version as the binary it goes into, else the binary segfaults),
 * a stripped copy of this Node gets the blob injected with postject.
 *
 * `node pilot/build/build-pilot.ts [--force] [--out FILE]` (npm run build:pilot). Unless --force,
 * the build is skipped when the bundle and the Node version are those of the last build.
 * `--bundle-only --out FILE` writes only the CommonJS bundle (the single-file pilot of cloud sites).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const execFileAsync = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = join(REPO_ROOT, 'pilot', 'build', 'entry.ts');
/** The fuse Node's SEA support looks for (documented with `node --experimental-sea-config`). */
export const SEA_SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const DEFAULT_PILOT_BINARY = join(REPO_ROOT, 'dist', 'gluon-pilot');

export interface BuildPilotOptions {
  /** Where the executable goes (default dist/gluon-pilot). */
  outFile?: string;
  /** Build even when the last build is of the same bundle and Node. */
  force?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface BuiltPilot {
  path: string;
  sizeBytes: number;
  /** False when the existing executable was up to date. */
  built: boolean;
  ms: number;
  nodeVersion: string;
}

interface BuildStamp {
  bundleSha256: string;
  nodeVersion: string;
}

/** The version of Node the project pins (devDependency `node`). */
async function projectNodeVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const version = pkg.devDependencies?.node;
  if (version === undefined) throw new Error('package.json has no devDependency on node');
  return version;
}

async function readStamp(file: string): Promise<BuildStamp | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BuildStamp;
  } catch {
    return undefined;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pilot program as one CommonJS file (what the single executable carries), to run with
 * `node FILE run …`. The local stack runs its pilots from it: a bundle starts faster and holds
 * less memory than the TypeScript sources, and a smaller pilot forks its payloads faster.
 */
export async function bundlePilot(
  outFile: string,
  options: { nodeMajor?: string; log?: (line: string) => void } = {},
): Promise<void> {
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${options.nodeMajor ?? process.versions.node.split('.')[0]}`,
    outfile: outFile,
    legalComments: 'none',
    minifySyntax: true,
    minifyWhitespace: true,
    keepNames: true,
    logLevel: 'silent',
  });
  for (const warning of result.warnings) options.log?.(`esbuild: ${warning.text}`);
}

export async function buildPilot(options: BuildPilotOptions = {}): Promise<BuiltPilot> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const outFile = resolve(options.outFile ?? DEFAULT_PILOT_BINARY);
  const nodeVersion = process.versions.node;
  const wanted = await projectNodeVersion();
  if (nodeVersion !== wanted) {
    throw new Error(
      `the pilot must be built with the project's Node ${wanted} (this is ${nodeVersion}): ` +
        'run `npm run build:pilot`, or put node_modules/.bin first on PATH',
    );
  }
  await mkdir(dirname(outFile), { recursive: true });
  return withBuildLock(outFile, async () => {
    const workDir = await mkdtemp(join(dirname(outFile), '.gluon-pilot-build-'));
    try {
      return await buildIn(workDir, outFile, nodeVersion, options.force ?? false, log, started);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One build of `outFile` at a time (test files of several projects may build at once; a second
 * build would replace the executable under pilots already running it). The lock file holds the
 * builder's pid; a lock of a dead process is taken over. The waiting build then finds the
 * executable up to date.
 */
async function withBuildLock<T>(outFile: string, build: () => Promise<T>): Promise<T> {
  const lock = `${outFile}.lock`;
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    // An empty lock is being written by its holder right now.
    if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
      await rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another build of ${outFile} holds ${lock} (pid ${holder})`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  }
  try {
    return await build();
  } finally {
    await rm(lock, { force: true });
  }
}

async function buildIn(
  workDir: string,
  outFile: string,
  nodeVersion: string,
  force: boolean,
  log: (line: string) => void,
  started: number,
): Promise<BuiltPilot> {
  const bundle = join(workDir, 'gluon-pilot.cjs');
  const blob = join(workDir, 'gluon-pilot.blob');
  const seaConfig = join(workDir, 'sea-config.json');
  const stampFile = `${outFile}.build.json`;

  await bundlePilot(bundle, { nodeMajor: nodeVersion.split('.')[0] ?? '22', log });
  const bundleSha256 = createHash('sha256')
    .update(await readFile(bundle))
    .digest('hex');
  const stamp: BuildStamp = { bundleSha256, nodeVersion };
  const previous = await readStamp(stampFile);
  if (
    !force &&
    previous?.bundleSha256 === stamp.bundleSha256 &&
    previous.nodeVersion === stamp.nodeVersion &&
    (await exists(outFile))
  ) {
    const { size } = await stat(outFile);
    return { path: outFile, sizeBytes: size, built: false, ms: Date.now() - started, nodeVersion };
  }

  await writeFile(
    seaConfig,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  await execFileAsync(process.execPath, ['--experimental-sea-config', seaConfig], { cwd: workDir });
  const tmp = join(workDir, 'gluon-pilot');
  await copyFile(process.execPath, tmp);
  await chmod(tmp, 0o755);
  try {
    await execFileAsync('strip', [tmp]);
  } catch (error) {
    log(`strip failed, the executable keeps its symbols: ${(error as Error).message}`);
  }
  // postject's CLI in a child process: its ELF library prints harmless warnings we keep out of sight.
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  try {
    await execFileAsync(process.execPath, [
      postject,
      tmp,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      SEA_SENTINEL_FUSE,
    ]);
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`postject failed: ${(stderr || stdout || (error as Error).message).trim().slice(-2000)}`);
  }
  // A rename: pilots running the previous executable keep it.
  await rename(tmp, outFile);
  await writeFile(stampFile, `${JSON.stringify(stamp, null, 2)}\n`);
  const { size } = await stat(outFile);
  return { path: outFile, sizeBytes: size, built: true, ms: Date.now() - started, nodeVersion };
}

export function formatMB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function cli(argv: string[]): Promise<number> {
  const force = argv.includes('--force');
  const bundleOnly = argv.includes('--bundle-only');
  const outIndex = argv.indexOf('--out');
  const outFile = outIndex >= 0 ? argv[outIndex + 1] : undefined;
  const unknown = argv.filter(
    (a, i) =>
      a !== '--force' && a !== '--bundle-only' && a !== '--out' && !(outIndex >= 0 && i === outIndex + 1),
  );
  if (
    unknown.length > 0 ||
    (outIndex >= 0 && outFile === undefined) ||
    (bundleOnly && outFile === undefined)
  ) {
    process.stderr.write(
      'usage: node pilot/build/build-pilot.ts [--force] [--out FILE] | --bundle-only --out FILE\n',
    );
    return 2;
  }
  if (bundleOnly && outFile !== undefined) {
    // The single-file pilot without the executable around it (`node FILE cloud|run …`): what cloud
    // instances download (cdk/constructs/provisioning.ts bundles its asset with this).
    await bundlePilot(resolve(outFile), { log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${relative(process.cwd(), resolve(outFile)) || outFile}: bundled\n`);
    return 0;
  }
  const built = await buildPilot({
    force,
    ...(outFile === undefined ? {} : { outFile }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const shown = relative(process.cwd(), built.path) || built.path;
  const how = built.built ? `built in ${(built.ms / 1000).toFixed(1)} s` : 'up to date';
  process.stdout.write(`${shown}: ${formatMB(built.sizeBytes)} (${how}, Node ${built.nodeVersion})\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2));
}

/**
 * A real headless Chromium for the browser tests: Debian's `chromium`, installed with apt when
 * absent (root; as test/support/slurm.ts installs Slurm), driven by playwright-core (which brings
 * no browser of its own). Every command runs asynchronously: the test process also hosts the
 * local stack's stand-ins.
 */
import { userInfo } from 'node:os';
import { type Browser, chromium } from 'playwright-core';
import { type CommandResult, runCommand } from '#pilot/factory/run-command.ts';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

async function sh(command: string, args: string[]): Promise<CommandResult> {
  return runCommand(command, args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeoutMs: 900_000,
  });
}

async function found(): Promise<string | undefined> {
  for (const path of CHROMIUM_CANDIDATES) {
    if ((await sh('test', ['-x', path])).code === 0) return path;
  }
  return undefined;
}

/** The path of Chromium, after an apt-get install of Debian's `chromium` when it is missing. Needs root then. */
export async function ensureChromiumInstalled(
  log: (line: string) => void = () => undefined,
): Promise<string> {
  const present = await found();
  if (present !== undefined) return present;
  if (userInfo().uid !== 0) {
    throw new Error('Chromium is not installed and this is not root: apt-get install -y chromium');
  }
  log('installing chromium with apt-get (once per machine)');
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', 'chromium'],
  ]) {
    const result = await sh('apt-get', args);
    if (result.code !== 0) {
      throw new Error(
        `apt-get ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim().slice(-2000)}`,
      );
    }
  }
  const installed = await found();
  if (installed === undefined)
    throw new Error(`apt-get installed chromium, but none of ${CHROMIUM_CANDIDATES.join(', ')} exists`);
  return installed;
}

/** Headless Chromium; `--no-sandbox` because tests run as root here, where its sandbox refuses to start. */
export async function launchChromium(log?: (line: string) => void): Promise<Browser> {
  const executablePath = await ensureChromiumInstalled(log);
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

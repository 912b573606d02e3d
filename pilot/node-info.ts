/**
 * What the pilot advertises about its node besides cores, memory and disk: architecture, OS and
 * GPUs. Read from os.*, /etc/os-release and /dev or /proc; never by spawning a tool.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { arch as nodeArch, platform } from 'node:os';

export interface NodeInfo {
  /** `x86_64`, `aarch64`, … (the names `uname -m` and the grid use). */
  arch: string;
  /** e.g. `linux debian 12`, `linux almalinux 9.4`. */
  os: string;
  gpus: number;
}

const ARCH_NAMES: Record<string, string> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  ppc64: 'ppc64le',
  ia32: 'i686',
  arm: 'armv7l',
};

/** Node's `os.arch()` name → the `uname -m` name. */
export function archName(nodeName: string): string {
  return ARCH_NAMES[nodeName] ?? nodeName;
}

/** `ID` and `VERSION_ID` of an os-release file → `linux <id> <version>`. */
export function osName(osRelease: string | undefined, os: string = platform()): string {
  if (osRelease === undefined) return os;
  const field = (name: string): string | undefined => {
    const match = new RegExp(`^${name}=(.*)$`, 'm').exec(osRelease);
    return match?.[1]?.trim().replace(/^(["'])(.*)\1$/, '$2');
  };
  return [os, field('ID'), field('VERSION_ID')].filter((p) => p !== undefined && p !== '').join(' ');
}

function listDir(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
}

/** NVIDIA GPUs: `/dev/nvidia<N>` devices, else the driver's `/proc/driver/nvidia/gpus/*` entries. */
export function countGpus(
  paths: { dev: string; nvidiaProc: string } = { dev: '/dev', nvidiaProc: '/proc/driver/nvidia/gpus' },
): number {
  const devices = (listDir(paths.dev) ?? []).filter((name) => /^nvidia\d+$/.test(name)).length;
  if (devices > 0) return devices;
  return (listDir(paths.nvidiaProc) ?? []).length;
}

export function readNodeInfo(osReleasePath = '/etc/os-release'): NodeInfo {
  let osRelease: string | undefined;
  try {
    osRelease = readFileSync(osReleasePath, 'utf8');
  } catch {
    try {
      osRelease = readFileSync('/usr/lib/os-release', 'utf8');
    } catch {
      osRelease = undefined;
    }
  }
  return { arch: archName(nodeArch()), os: osName(osRelease), gpus: Math.min(64, countGpus()) };
}

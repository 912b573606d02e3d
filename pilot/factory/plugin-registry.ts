/**
 * Batch plugins by name (`gluon-pilot factory --batch NAME`). A new batch system (HTCondor, PBS,
 * LSF) is one file implementing BatchPlugin plus one line here.
 */
import type { BatchPlugin } from './batch-plugin.ts';
import { LocalProcessPlugin } from './local-plugin.ts';
import { SlurmPlugin } from './slurm-plugin.ts';

export interface BatchPluginOptions {
  /** Environment of the batch commands (e.g. SLURM_CONF). */
  env?: NodeJS.ProcessEnv;
  /** Where a local plugin's pilots get their work directories. */
  workRoot?: string;
}

const PLUGINS: Record<string, (options: BatchPluginOptions) => BatchPlugin> = {
  slurm: (options) => new SlurmPlugin(options.env === undefined ? {} : { env: options.env }),
  local: (options) => new LocalProcessPlugin({ workRoot: options.workRoot ?? 'gluon-pilots' }),
};

/** Names of the registered plugins, sorted. */
export function batchPluginNames(): string[] {
  return Object.keys(PLUGINS).sort();
}

/** The plugin registered as `name`; throws naming the known ones when there is none. */
export function createBatchPlugin(name: string, options: BatchPluginOptions = {}): BatchPlugin {
  const make = Object.hasOwn(PLUGINS, name) ? PLUGINS[name] : undefined;
  if (make === undefined) {
    throw new Error(`no batch plugin '${name}' (known: ${batchPluginNames().join(', ')})`);
  }
  return make(options);
}

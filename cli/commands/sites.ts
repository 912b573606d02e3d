import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number ≥ 0');
  return n;
}

interface PutSiteOptions extends CommonOptions {
  kind?: string;
  status?: string;
  cores?: number;
  memoryMb?: number;
  walltimeSec?: number;
  diskMb?: number;
  maxPilots?: number;
  maxQueued?: number;
  tag?: string[];
}

/** `gluon sites` and `gluon site-put SITE`: the information system, for operators. */
export function registerSites(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program.command('sites').description('list sites: status, slot resources, pilot cap'),
  ).action(async (options: CommonOptions) => {
    const sites = (await clientFor(io, options).call('listSites', {})).items;
    if (options.json) printJson(io, sites);
    else if (sites.length === 0) writeLine(io.stdout, 'no sites');
    else
      writeLine(
        io.stdout,
        renderTable(
          ['SITE', 'KIND', 'STATUS', 'CORES', 'MEMORY MB', 'WALLTIME S', 'DISK MB', 'MAX PILOTS', 'TAGS'],
          sites.map((s) => [
            s.siteId,
            s.kind,
            s.status,
            String(s.slot.cores),
            String(s.slot.memoryMB),
            String(s.slot.walltimeSec),
            String(s.slot.diskMB),
            String(s.maxPilots),
            s.tags.join(','),
          ]),
        ),
      );
  });

  addCommonOptions(
    program
      .command('site-put')
      .argument('<site>', 'site id: lower-case letters, digits and dashes')
      .description(
        'define or update a site (needs the gluon.admin scope); creates its job queue and DLQ. ' +
          'Options not given take the defaults (online, 1 core, 2000 MB, 24 h, 10 GB slots, 100 pilots).',
      )
      .addOption(new Option('--kind <kind>', 'what the site is').choices(['local', 'grid', 'hpc', 'cloud']))
      .addOption(
        new Option('--status <status>', 'offline stops brokerage and pilot factories').choices([
          'online',
          'offline',
          'test',
        ]),
      )
      .option('--cores <n>', 'cores of one slot (what one pilot offers)', positiveInt)
      .option('--memory-mb <n>', 'memory of one slot', positiveInt)
      .option('--walltime-sec <n>', 'walltime of one slot', positiveInt)
      .option('--disk-mb <n>', 'scratch disk of one slot', positiveInt)
      .option('--max-pilots <n>', 'most pilots running at the site at once', positiveInt)
      .option(
        '--max-queued <n>',
        'most jobs waiting in the site queue: dispatch tops it up to this in fair-share order (default: max-pilots, at least 10)',
        positiveInt,
      )
      .option('--tag <tag...>', 'tags of the site'),
  ).action(async (siteId: string, options: PutSiteOptions) => {
    const slot = Object.fromEntries(
      Object.entries({
        cores: options.cores,
        memoryMB: options.memoryMb,
        walltimeSec: options.walltimeSec,
        diskMB: options.diskMb,
      }).filter(([, v]) => v !== undefined),
    );
    const body = Object.fromEntries(
      Object.entries({
        kind: options.kind,
        status: options.status,
        slot: Object.keys(slot).length === 0 ? undefined : slot,
        maxPilots: options.maxPilots,
        maxQueued: options.maxQueued,
        tags: options.tag,
      }).filter(([, v]) => v !== undefined),
    );
    const site = await clientFor(io, options).call('putSite', { params: { siteId }, body });
    if (options.json) printJson(io, site);
    else
      writeLine(
        io.stdout,
        `site ${site.siteId} is ${site.status}; job queue ${site.queueUrl ?? '(unknown)'}`,
      );
  });
}

/**
 * The data catalog from the command line: scopes, storage endpoints, datasets and files
 * (`gluon scope|endpoint|dataset|file …`).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { ResponseOf } from '#core/api/operations.ts';
import { parseDidText } from '#core/catalog/did.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable, shortTime } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, parsePositiveInt, printJson } from './common.ts';

const CATALOG_HELP = `
The catalog names data as scope:name (a DID). Your own scope is user.<you>; operators make others
(\`gluon scope add\`) and say who may write in them. A dataset holds files; each file has replicas
at storage endpoints (an S3 bucket and prefix, or a URL root), each endpoint close to some sites.
GLUON-RESULTS is the deployment's results bucket: your tasks' outputs are registered there, in the
dataset user.<you>:<task name>.output (or the spec's outputDataset), closed when the task ends.
`;

function did(value: string): string {
  const parsed = parseDidText(value);
  if (typeof parsed === 'string') throw new InvalidArgumentError(`${value}: ${parsed}`);
  return value;
}

/** `key=value` (digits become a number). */
function metaPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`${value}: give key=value`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function metaValues(pairs: Record<string, string>): Record<string, string | number> {
  return Object.fromEntries(
    Object.entries(pairs).map(([k, v]) => [k, /^-?(0|[1-9][0-9]{0,14})$/.test(v) ? Number(v) : v]),
  );
}

function humanBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

type DatasetView = ResponseOf<'getDataset'>;
type FileView = ResponseOf<'getFile'>;

function renderDataset(d: DatasetView): string[] {
  return [
    `${d.did}  ${d.state}${d.closedAt === undefined ? '' : ` (closed ${shortTime(d.closedAt)})`}`,
    `  files ${d.files}, ${humanBytes(d.bytes)}, ${d.events} events; owner ${d.owner}${d.taskId === undefined ? '' : `, task ${d.taskId}`}`,
    ...(Object.keys(d.metadata).length === 0
      ? []
      : [
          `  metadata ${Object.entries(d.metadata)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        ]),
  ];
}

function replicaCell(f: Pick<FileView, 'replicas'>): string {
  return (
    f.replicas
      .map((r) => (r.state === 'available' ? r.endpointId : `${r.endpointId}(${r.state})`))
      .join(',') || '-'
  );
}

function renderFilesTable(files: Array<Omit<FileView, 'registeredBy'> & { registeredBy?: string }>): string {
  return renderTable(
    ['FILE', 'BYTES', 'ADLER32', 'EVENTS', 'REPLICAS'],
    files.map((f) => [
      f.did,
      String(f.bytes),
      f.adler32,
      f.events === undefined ? '-' : String(f.events),
      replicaCell(f),
    ]),
  );
}

export function registerCatalog(program: Command, ctx: CliContext): void {
  const { io } = ctx;

  // ---- scopes
  const scope = program
    .command('scope')
    .description('catalog scopes: namespaces of files and datasets, and who may write in them')
    .addHelpText('after', CATALOG_HELP);
  addCommonOptions(
    scope
      .command('add')
      .description('make a scope and name its owners (operators: gluon.admin)')
      .argument('<scope>', 'the scope, e.g. group.higgs or mc23')
      .requiredOption('--owner <sub...>', 'token subjects who may write in it'),
  ).action(async (name: string, options: CommonOptions & { owner: string[] }) => {
    const answer = await clientFor(io, options).call('createScope', {
      body: { scope: name, owners: options.owner },
    });
    if (options.json) printJson(io, answer);
    else writeLine(io.stdout, `scope ${answer.scope} made; owners ${answer.owners.join(', ')}`);
  });
  addCommonOptions(scope.command('list').description('the scopes operators made, and yours')).action(
    async (options: CommonOptions) => {
      const answer = await clientFor(io, options).call('listScopes', {});
      if (options.json) return printJson(io, answer);
      writeLine(io.stdout, `your scope: ${answer.own}`);
      if (answer.items.length > 0) {
        writeLine(
          io.stdout,
          renderTable(
            ['SCOPE', 'OWNERS'],
            answer.items.map((s) => [s.scope, s.owners.join(',')]),
          ),
        );
      }
    },
  );

  // ---- endpoints
  const endpoint = program
    .command('endpoint')
    .description('storage endpoints (Rucio RSEs): where replicas are, and which sites are close')
    .addHelpText(
      'after',
      `
Examples:
  gluon endpoint put DATA-A --bucket gluon-data-a --prefix mc/ --site cern --site desy
  gluon endpoint put EOS-CERN --url-root root://eos.example.org//eos/data/ --site cern --read-only
  gluon endpoint list
`,
    );
  addCommonOptions(
    endpoint
      .command('put')
      .description('define or update an endpoint (operators: gluon.admin)')
      .argument('<endpointId>', 'upper-case id, e.g. DATA-A')
      .option('--bucket <bucket>', 'an s3 endpoint: its bucket')
      .option('--prefix <prefix>', 'key prefix inside the bucket (ending in /)', '')
      .option('--url-root <url>', 'a url endpoint: its root (root://, davs://, https://)')
      .option('--site <siteId...>', 'sites close to it (their pilots read it as local data)', [])
      .option('--unreadable', 'down for reads: brokerage and stage-in skip its replicas')
      .option('--read-only', 'rules and outputs may not write to it'),
  ).action(
    async (
      endpointId: string,
      options: CommonOptions & {
        bucket?: string;
        prefix: string;
        urlRoot?: string;
        site: string[];
        unreadable?: boolean;
        readOnly?: boolean;
      },
    ) => {
      if ((options.bucket === undefined) === (options.urlRoot === undefined)) {
        throw new CliError('give --bucket (an s3 endpoint) or --url-root (a url endpoint)', { exitCode: 2 });
      }
      const answer = await clientFor(io, options).call('putEndpoint', {
        params: { endpointId },
        body: {
          kind: options.bucket !== undefined ? 's3' : 'url',
          ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
          ...(options.urlRoot === undefined ? {} : { urlRoot: options.urlRoot }),
          prefix: options.prefix,
          sites: options.site,
          readable: options.unreadable !== true,
          writable: options.readOnly !== true,
        },
      });
      if (options.json) printJson(io, answer);
      else writeLine(io.stdout, `endpoint ${answer.endpointId} defined`);
    },
  );
  addCommonOptions(endpoint.command('list').description('the storage endpoints')).action(
    async (options: CommonOptions) => {
      const answer = await clientFor(io, options).call('listEndpoints', {});
      if (options.json) return printJson(io, answer);
      const rows = answer.items.map((e) => [
        e.endpointId,
        e.kind === 's3' ? `s3://${e.bucket}/${e.prefix}` : `${e.urlRoot}${e.prefix}`,
        e.endpointId === 'GLUON-RESULTS' ? '(every site)' : e.sites.join(',') || '-',
        `${e.readable ? 'r' : '-'}${e.writable ? 'w' : '-'}`,
      ]);
      writeLine(io.stdout, renderTable(['ENDPOINT', 'WHERE', 'SITES', 'RW'], rows));
    },
  );

  // ---- datasets
  const dataset = program
    .command('dataset')
    .description('datasets: named sets of files (open while files may be added)')
    .addHelpText(
      'after',
      `
Examples:
  gluon dataset create user.alice:zmumu-data --meta runNumber=358031
  gluon dataset list --scope user.alice
  gluon dataset show user.alice:zmumu-gen.output
  gluon dataset files user.alice:zmumu-gen.output
  gluon dataset close user.alice:zmumu-data
`,
    );
  addCommonOptions(
    dataset
      .command('create')
      .description('create an open dataset in a scope you may write in')
      .argument('<did>', 'scope:name', did)
      .option('--meta <key=value>', 'metadata (repeat)', metaPair),
  ).action(async (name: string, options: CommonOptions & { meta?: Record<string, string> }) => {
    const answer = await clientFor(io, options).call('createDataset', {
      body: { dataset: name, ...(options.meta === undefined ? {} : { metadata: metaValues(options.meta) }) },
    });
    if (options.json) printJson(io, answer);
    else writeLine(io.stdout, `dataset ${answer.did} created (open)`);
  });
  addCommonOptions(
    dataset
      .command('list')
      .description('the datasets of a scope, by name')
      .requiredOption('--scope <scope>', 'the scope (yours is user.<you>)')
      .option('--prefix <prefix>', 'names starting with it')
      .option('--limit <n>', 'at most this many', parsePositiveInt, 100),
  ).action(async (options: CommonOptions & { scope: string; prefix?: string; limit: number }) => {
    const answer = await clientFor(io, options).call('listDatasets', {
      query: {
        scope: options.scope,
        limit: Math.min(options.limit, 1000),
        ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      },
    });
    if (options.json) return printJson(io, answer);
    if (answer.items.length === 0) return writeLine(io.stdout, `no datasets in ${options.scope}`);
    const rows = answer.items.map((d) => [
      d.did,
      d.state,
      String(d.files),
      humanBytes(d.bytes),
      String(d.events),
    ]);
    writeLine(io.stdout, renderTable(['DATASET', 'STATE', 'FILES', 'BYTES', 'EVENTS'], rows));
  });
  addCommonOptions(
    dataset.command('show').description('a dataset: state and totals').argument('<did>', 'scope:name', did),
  ).action(async (name: string, options: CommonOptions) => {
    const answer = await clientFor(io, options).call('getDataset', { params: { did: name } });
    if (options.json) printJson(io, answer);
    else for (const line of renderDataset(answer)) writeLine(io.stdout, line);
  });
  addCommonOptions(
    dataset
      .command('files')
      .description('the files of a dataset in attach order, with their replicas')
      .argument('<did>', 'scope:name', did)
      .option('--limit <n>', 'at most this many', parsePositiveInt, 1000),
  ).action(async (name: string, options: CommonOptions & { limit: number }) => {
    const client = clientFor(io, options);
    const items: ResponseOf<'listDatasetFiles'>['items'] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.call('listDatasetFiles', {
        params: { did: name },
        query: {
          limit: Math.min(1000, options.limit - items.length),
          ...(nextToken === undefined ? {} : { nextToken }),
        },
      });
      items.push(...page.items);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && items.length < options.limit);
    if (options.json) return printJson(io, { items });
    if (items.length === 0) return writeLine(io.stdout, `no files in ${name}`);
    writeLine(io.stdout, renderFilesTable(items));
  });
  addCommonOptions(
    dataset
      .command('close')
      .description('close a dataset: it takes no more files')
      .argument('<did>', 'scope:name', did),
  ).action(async (name: string, options: CommonOptions) => {
    const answer = await clientFor(io, options).call('closeDataset', { params: { did: name } });
    if (options.json) printJson(io, answer);
    else writeLine(io.stdout, `dataset ${answer.did} ${answer.state}`);
  });

  // ---- files
  const file = program
    .command('file')
    .description('files: register them (with a replica at an endpoint), show and search them')
    .addHelpText(
      'after',
      `
A manifest (YAML or JSON) lists files with their size and adler32; each replica is the file's key
under the endpoint's prefix (default its name), or a url:

  files:
    - { name: zmumu.0001.root, bytes: 1048576, adler32: 0a1b2c3d, events: 1000, metadata: { runNumber: 358031 } }
    - { name: zmumu.0002.root, bytes: 1048576, adler32: 4e5f6a7b, key: run358031/zmumu.0002.root }

--from-listing registers every object of an s3 endpoint's bucket under its prefix (+ PREFIX), reading
each to compute its adler32 (at most 1000 per call). A file registered before with another size or
checksum refuses the whole call (nothing is registered).

Examples:
  gluon file register --dataset user.alice:zmumu-data --endpoint DATA-A --manifest files.yaml
  gluon file register --dataset user.alice:zmumu-data --endpoint DATA-A --from-listing run358031/ --events 1000
  gluon file show user.alice:zmumu.0001.root
  gluon file search --scope user.alice --meta runNumber=358031
`,
    );
  addCommonOptions(
    file
      .command('register')
      .description('register files with a replica at an endpoint, attached to a dataset')
      .option('--dataset <did>', 'the open dataset to attach them to', did)
      .option('--scope <scope>', "the files' scope (default: the dataset's, else yours)")
      .requiredOption('--endpoint <endpointId>', 'where the replicas are')
      .option('--manifest <file>', 'a YAML or JSON manifest of files')
      .option(
        '--from-listing <prefix>',
        "register the endpoint bucket's objects under this prefix ('' for all)",
      )
      .option('--events <n>', 'with --from-listing: events per file', parsePositiveInt)
      .option('--meta <key=value>', 'with --from-listing: metadata of every file (repeat)', metaPair),
  ).action(
    async (
      options: CommonOptions & {
        dataset?: string;
        scope?: string;
        endpoint: string;
        manifest?: string;
        fromListing?: string;
        events?: number;
        meta?: Record<string, string>;
      },
    ) => {
      if ((options.manifest === undefined) === (options.fromListing === undefined)) {
        throw new CliError('give --manifest FILE or --from-listing PREFIX', { exitCode: 2 });
      }
      let files: unknown;
      if (options.manifest !== undefined) {
        let text: string;
        try {
          text = await readFile(options.manifest, 'utf8');
        } catch (error) {
          throw new CliError(`cannot read ${options.manifest}: ${(error as Error).message}`, { exitCode: 2 });
        }
        let parsed: unknown;
        try {
          parsed = parseYaml(text);
        } catch (error) {
          throw new CliError(`${options.manifest} is not YAML or JSON: ${(error as Error).message}`, {
            exitCode: 2,
          });
        }
        files = Array.isArray(parsed) ? parsed : (parsed as { files?: unknown } | null)?.files;
        if (!Array.isArray(files)) {
          throw new CliError(`${options.manifest}: give a list of files (or files: [...])`, { exitCode: 2 });
        }
      }
      const answer = await clientFor(io, options).call('registerFiles', {
        body: {
          endpoint: options.endpoint,
          ...(options.dataset === undefined ? {} : { dataset: options.dataset }),
          ...(options.scope === undefined ? {} : { scope: options.scope }),
          ...(files === undefined
            ? {
                fromListing: {
                  prefix: options.fromListing,
                  ...(options.events === undefined ? {} : { events: options.events }),
                  ...(options.meta === undefined ? {} : { metadata: metaValues(options.meta) }),
                },
              }
            : { files: files as never }),
        },
      });
      if (options.json) return printJson(io, answer);
      writeLine(
        io.stdout,
        `${answer.files.length} files: ${answer.registered} registered, ${answer.existing} already registered, ${answer.attached} attached`,
      );
    },
  );
  addCommonOptions(
    file
      .command('show')
      .description('a file: size, adler32, metadata, replicas')
      .argument('<did>', 'scope:name', did),
  ).action(async (name: string, options: CommonOptions) => {
    const f = await clientFor(io, options).call('getFile', { params: { did: name } });
    if (options.json) return printJson(io, f);
    writeLine(
      io.stdout,
      `${f.did}  ${f.bytes} bytes  adler32 ${f.adler32}${f.events === undefined ? '' : `  ${f.events} events`}`,
    );
    if (Object.keys(f.metadata).length > 0) {
      writeLine(
        io.stdout,
        `  metadata ${Object.entries(f.metadata)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
    }
    writeLine(io.stdout, `  registered by ${f.registeredBy} at ${shortTime(f.createdAt)}`);
    for (const r of f.replicas) {
      writeLine(
        io.stdout,
        `  ${r.endpointId}  ${r.state}  ${r.url}${r.reason === undefined ? '' : `  (${r.reason})`}`,
      );
    }
  });
  addCommonOptions(
    file
      .command('search')
      .description('files of a scope whose metadata matches every --meta key=value')
      .requiredOption('--scope <scope>', 'the scope to search')
      .option(
        '--meta <key=value>',
        'metadata filter (repeat; all must match; digits compare as numbers)',
        metaPair,
      )
      .option('--limit <n>', 'at most this many', parsePositiveInt, 100),
  ).action(
    async (options: CommonOptions & { scope: string; meta?: Record<string, string>; limit: number }) => {
      const client = clientFor(io, options);
      const meta = Object.fromEntries(Object.entries(options.meta ?? {}).map(([k, v]) => [`meta.${k}`, v]));
      const items: ResponseOf<'searchFiles'>['items'] = [];
      let nextToken: string | undefined;
      do {
        const page = await client.call('searchFiles', {
          // meta.<key> parameters are the schema's catch-all (strings), beside the typed ones.
          query: {
            scope: options.scope,
            limit: Math.min(1000, options.limit - items.length),
            ...meta,
            ...(nextToken === undefined ? {} : { nextToken }),
          } as never,
        });
        items.push(...page.items);
        nextToken = page.nextToken;
      } while (nextToken !== undefined && items.length < options.limit);
      if (options.json) return printJson(io, { items });
      if (items.length === 0) return writeLine(io.stdout, 'no files match');
      writeLine(io.stdout, renderFilesTable(items));
    },
  );
}

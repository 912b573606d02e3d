import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { WebhookIdSchema } from '#core/api/notifications.ts';
import { TASK_END_STATES, type TaskEndState } from '#core/notifications/task-event.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable, shortTime, trim } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

const NOTIFY_HELP = `
When one of your tasks ends (done, failed, partial or cancelled), each of your webhooks gets a
POST with a JSON body:

  {"id":"<event id>","source":"gluon","detailType":"Task State Change",
   "detail":{"taskId":"t-…","owner":"…","name":"…","from":"running","to":"done","counts":{…},"at":"…"}}

and the headers
  X-Gluon-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook's secret>
  X-Gluon-Event-Id:  the same id on every retry of one task end (dedupe on it)
  X-Gluon-Timestamp: seconds since 1970 when the attempt was sent

Check the signature over the raw bytes before parsing. Answer 2xx to acknowledge; anything else
(or no answer within 10 s) is retried with exponential back-off, then the delivery is marked failed.
\`gluon notify list\` shows each webhook's recent deliveries: attempts, last status or error, next retry.

URLs must be https; a deployment may allow plain http to 127.0.0.1/localhost (the local stack does).

Examples:
  gluon notify add https://hooks.example.org/gluon
  gluon notify add https://hooks.example.org/gluon --events failed,partial
  gluon notify list
  gluon notify remove w-mhx3k2a0q8f3z1c9w4
`;

function parseEvents(value: string): TaskEndState[] {
  const events = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const unknown = events.filter((e) => !(TASK_END_STATES as readonly string[]).includes(e));
  if (events.length === 0 || unknown.length > 0)
    throw new InvalidArgumentError(`give task ends from ${TASK_END_STATES.join(', ')} (comma-separated)`);
  return events as TaskEndState[];
}

export function registerNotify(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const notify = program
    .command('notify')
    .description('webhooks: a signed POST when one of your tasks ends')
    .addHelpText('after', NOTIFY_HELP);

  addCommonOptions(
    notify
      .command('add')
      .description('add a webhook for your tasks; prints its signing secret (shown only this once)')
      .argument('<url>', 'https URL of your receiver')
      .option(
        '--events <ends>',
        `task ends to be told of (default all: ${TASK_END_STATES.join(',')})`,
        parseEvents,
      ),
  ).action(async (url: string, options: CommonOptions & { events?: TaskEndState[] }) => {
    const answer = await clientFor(io, options).call('addWebhook', {
      body: { url, ...(options.events === undefined ? {} : { events: options.events }) },
    });
    if (options.json) {
      printJson(io, answer);
      return;
    }
    writeLine(io.stdout, `webhook ${answer.webhookId} added: ${answer.url} (${answer.events.join(', ')})`);
    writeLine(io.stdout, `secret: ${answer.secret}`);
    writeLine(io.stdout, 'keep the secret: it is not shown again; check X-Gluon-Signature with it');
  });

  addCommonOptions(
    notify.command('list').description('your webhooks and their recent deliveries (failures included)'),
  ).action(async (options: CommonOptions) => {
    const answer = await clientFor(io, options).call('listWebhooks', {});
    if (options.json) {
      printJson(io, answer);
      return;
    }
    if (answer.items.length === 0) {
      writeLine(io.stdout, 'no webhooks; add one with: gluon notify add URL');
      return;
    }
    for (const webhook of answer.items) {
      writeLine(io.stdout, `${webhook.webhookId}  ${webhook.url}  (${webhook.events.join(', ')})`);
      if (webhook.deliveries.length === 0) {
        writeLine(io.stdout, '  no deliveries yet');
        continue;
      }
      const rows = webhook.deliveries.map((d) => [
        d.taskId,
        d.state,
        d.status,
        String(d.attempts),
        d.lastStatus === undefined ? '-' : String(d.lastStatus),
        trim(d.lastError ?? '-', 40),
        d.status === 'pending' ? shortTime(d.nextAttemptAt) : '-',
      ]);
      const table = renderTable(
        ['TASK', 'END', 'DELIVERY', 'ATTEMPTS', 'HTTP', 'LAST ERROR', 'NEXT TRY'],
        rows,
      );
      for (const line of table.split('\n')) writeLine(io.stdout, `  ${line}`);
    }
  });

  addCommonOptions(
    notify.command('remove').description('remove one of your webhooks').argument('<id>', 'webhook id (w-…)'),
  ).action(async (webhookId: string, options: CommonOptions) => {
    if (!WebhookIdSchema.safeParse(webhookId).success)
      throw new CliError(`not a webhook id: ${webhookId} (ids look like w-mhx3k2a0q8f3z1c9w4)`, {
        exitCode: 2,
      });
    const answer = await clientFor(io, options).call('removeWebhook', { params: { webhookId } });
    if (options.json) printJson(io, answer);
    else writeLine(io.stdout, `webhook ${answer.webhookId} removed`);
  });
}

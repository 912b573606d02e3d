/**
 * open.html?taskId=…&index=N&log[&attempt=A] or …&output=NAME: asks the API for the download URL of
 * a job's log or output (it checks the token's owner) and goes there. The links on the task page
 * point here because a presigned URL is short-lived: it is made when the link is followed.
 */
import { api } from './api.js';
import { explain, initPage, needToken, status } from './page.js';

async function open() {
  if (needToken()) return;
  const params = new URLSearchParams(location.search);
  const taskId = params.get('taskId') ?? '';
  const index = params.get('index') ?? '';
  const job = `/tasks/${encodeURIComponent(taskId)}/jobs/${encodeURIComponent(index)}`;
  const output = params.get('output');
  const attempt = params.get('attempt') ?? undefined;
  try {
    const answer =
      output === null
        ? await api(`${job}/log`, { query: { attempt } })
        : await api(`${job}/outputs/${encodeURIComponent(output)}`);
    status(`Opening ${output ?? 'the log'} of job ${index}…`);
    location.replace(answer.url);
  } catch (error) {
    status(explain(error), 'error');
  }
}

initPage(open);
void open();

/**
 * `npm run openapi`: writes the OpenAPI 3.1 document of the API (core/api/openapi.ts) to
 * openapi.json at the top of the repository. `--check` exits 1 when the file is not current.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '#core/api/openapi.ts';

export const OPENAPI_FILE = fileURLToPath(new URL('../openapi.json', import.meta.url));

export function renderOpenApi(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `${JSON.stringify(openApiDocument(pkg.version), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = renderOpenApi();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OPENAPI_FILE, 'utf8');
    } catch {
      // missing: not current
    }
    if (current !== text) {
      process.stderr.write('openapi.json is not current: run `npm run openapi`\n');
      process.exit(1);
    }
  } else {
    writeFileSync(OPENAPI_FILE, text);
    process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
  }
}

import { readFileSync } from 'node:fs';

let clientJs: string | undefined;

/**
 * The report's browser script (assets/client.js: plain ES2017, no modules,
 * linted as a browser script), read once. `npm run build` copies it into dist/src/report/assets/.
 */
export function clientScript(): string {
  clientJs ??= readFileSync(new URL('./assets/client.js', import.meta.url), 'utf8');
  return clientJs;
}

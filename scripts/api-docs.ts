/**
 * `pnpm docs:api`: writes the endpoint table of apps/api/README.md from the API's OpenAPI operations
 * (the source of `/openapi.json`). `apps/api/test/openapi.test.ts` fails when the committed table differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withEndpointTable } from '../apps/api/src/openapi/endpoint-table.ts';

const README = new URL('../apps/api/README.md', import.meta.url).pathname;
writeFileSync(README, withEndpointTable(readFileSync(README, 'utf8')));
process.stdout.write(`wrote ${README}\n`);

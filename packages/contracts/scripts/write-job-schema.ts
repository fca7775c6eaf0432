// Writes job-schema.json from the zod schema (`pnpm --filter @turnstream/contracts job-schema`).
import { writeFileSync } from 'node:fs';
import { turnJobJsonSchema } from '../src/job-schema.ts';

const path = new URL('../job-schema.json', import.meta.url);
writeFileSync(path, `${JSON.stringify(turnJobJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path.pathname}`);

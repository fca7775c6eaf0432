/**
 * The image's program: `turnstream <api|worker|migrate|simulator|healthcheck|tenant:create|key>`. Each
 * command runs that app's own entry (its `main.ts`, configured by environment variables:
 * docs/configuration.md); `tenant:create` and `key <create|list|revoke|rotate|limits>` take the same
 * arguments as `pnpm tenant:create` and `pnpm key:*`.
 */
import { IMAGE_COMMANDS } from './commands.ts';

const command = process.argv[2] ?? '';
if (!(command in IMAGE_COMMANDS)) {
  process.stderr.write(`usage: turnstream <${Object.keys(IMAGE_COMMANDS).join('|')}> (got "${command}")\n`);
  process.exit(2);
}
await IMAGE_COMMANDS[command as keyof typeof IMAGE_COMMANDS]();

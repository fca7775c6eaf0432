/**
 * `node --import tsx guard.ts <command> [args...]`: runs a server for `npm start` and stops it (SIGTERM,
 * then waits) when the launcher closes this process's stdin, which also happens when the launcher dies
 * without a chance to clean up. Exits with the server.
 */
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2) as [string, ...string[]];
const server = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
const stop = () => server.kill('SIGTERM');
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);
process.stdin.on('end', stop);
process.stdin.resume();

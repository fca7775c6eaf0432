// Bundles the image's program (src/main.ts and every app it runs) to JavaScript in dist/: the
// workspace's TypeScript is compiled in, npm packages stay imports (installed by `pnpm deploy --prod`).
import { cpSync, existsSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
// `--out=<dir>` writes dist/, drizzle/ and web/ there instead of next to this file (the benchmark runs
// the image's program from a folder of its own).
const outArg = process.argv.find((a) => a.startsWith('--out='));
const out = outArg ? `${outArg.slice('--out='.length).replace(/\/$/, '')}/` : here;
for (const dir of ['dist', 'drizzle', 'web']) rmSync(`${out}${dir}`, { recursive: true, force: true });

/** Bare imports other than the workspace's own packages are left to node_modules. */
const externalNpmPackages = {
  name: 'external-npm-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@turnstream/') ? undefined : { path: args.path, external: true },
    );
  },
};

await build({
  entryPoints: { main: `${here}src/main.ts` },
  outdir: `${out}dist`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  plugins: [externalNpmPackages],
  logLevel: 'warning',
});

// Files the code finds next to itself: migrations (packages/db: `../drizzle`), the playground (apps/api: `../web/dist`).
cpSync(`${here}../../packages/db/drizzle`, `${out}drizzle`, { recursive: true });
const playground = `${here}../../apps/api/web/dist`;
if (existsSync(playground)) cpSync(playground, `${out}web/dist`, { recursive: true });
else console.warn('no playground page (apps/api/web/dist): run `pnpm build:web` first');
console.log(`built ${out === here ? 'infra/image/' : out}dist`);

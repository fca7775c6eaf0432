import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The programs the benchmark starts. */
export type AppProgram = 'api' | 'worker' | 'simulator';

/** How a program is started: node's arguments after its own flags, and the working directory. */
export interface AppCommand {
  args: string[];
  cwd: string;
}

/**
 * Where the benchmark's processes come from:
 * - `image`: the production image's program (`infra/image`, esbuild's bundle of the apps, run as
 *   `node dist/main.js <program>`, as the Docker image runs it), built into a folder of its own;
 * - `source`: each app's `src/main.ts` under tsx's loader (`pnpm start`, the tests).
 */
export const RUNTIMES = ['image', 'source'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
export const DEFAULT_RUNTIME: RuntimeName = 'image';

export interface AppRuntime {
  name: RuntimeName;
  command(program: AppProgram): AppCommand;
  /** Removes what the runtime built (nothing is left behind). */
  close(): void;
}

const ENTRIES: Record<AppProgram, string> = {
  api: 'apps/api/src/main.ts',
  worker: 'apps/worker/src/main.ts',
  simulator: 'apps/claude-sim/src/main.ts',
};

export function sourceRuntime(root: string): AppRuntime {
  return {
    name: 'source',
    command: (program) => ({ args: ['--import', 'tsx', ENTRIES[program]], cwd: root }),
    close: () => {},
  };
}

/**
 * Builds the image's program into a temporary folder and gives it a `node_modules` of the npm
 * packages the bundled apps import (links to the workspace's own installs: the same versions the
 * source runs), as `pnpm deploy --prod` does for the image, without the registry.
 */
export function imageRuntime(root: string): AppRuntime {
  const dir = mkdtempSync(join(tmpdir(), 'turnstream-bench-image-'));
  try {
    const built = spawnSync(process.execPath, [join(root, 'infra/image/build.mjs'), `--out=${dir}`], {
      encoding: 'utf8',
    });
    if (built.status !== 0) throw new Error(`image build failed: ${built.stderr || built.stdout}`);
    linkDependencies(root, join(dir, 'node_modules'));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    name: 'image',
    command: (program) => ({ args: [join(dir, 'dist/main.js'), program], cwd: dir }),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function appRuntime(name: RuntimeName, root: string): AppRuntime {
  return name === 'image' ? imageRuntime(root) : sourceRuntime(root);
}

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
}

const readPackage = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;

/** The workspace folders whose code the image bundles: `infra/image`'s dependencies, transitively. */
function bundledPackages(root: string): string[] {
  const byName = new Map<string, string>();
  for (const group of ['apps', 'packages']) {
    for (const entry of readdirSync(join(root, group))) {
      const dir = join(root, group, entry);
      if (existsSync(join(dir, 'package.json'))) byName.set(readPackage(dir).name, dir);
    }
  }
  const found = new Set<string>();
  const visit = (dir: string) => {
    for (const dep of Object.keys(readPackage(dir).dependencies ?? {})) {
      const depDir = byName.get(dep);
      if (depDir && !found.has(depDir)) {
        found.add(depDir);
        visit(depDir);
      }
    }
  };
  visit(join(root, 'infra/image'));
  return [...found];
}

/**
 * One link per npm package a bundled workspace package depends on (its `dependencies`, as
 * `pnpm deploy --prod` installs them); two versions of one is an error.
 */
export function linkDependencies(root: string, into: string): number {
  const links = new Map<string, string>();
  for (const pkg of bundledPackages(root)) {
    const modules = join(pkg, 'node_modules');
    for (const name of Object.keys(readPackage(pkg).dependencies ?? {})) {
      if (name.startsWith('@turnstream/')) continue;
      const target = realpathSync(join(modules, name));
      const seen = links.get(name);
      if (seen && seen !== target) throw new Error(`two versions of ${name}: ${seen} and ${target}`);
      links.set(name, target);
    }
  }
  for (const [name, target] of links) {
    mkdirSync(dirname(join(into, name)), { recursive: true });
    symlinkSync(target, join(into, name), 'dir');
  }
  return links.size;
}

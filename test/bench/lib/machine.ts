import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT } from './process.ts';

export interface MachineFacts {
  cores: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  postgres: string;
  redis: string;
  commit: string;
  /** Uncommitted changes in the working tree when the run started. */
  dirty: boolean;
  os: string;
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function machineFacts(versions: { postgres: string; redis: string }): MachineFacts {
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    postgres: versions.postgres,
    redis: versions.redis,
    commit: git('rev-parse', '--short=12', 'HEAD'),
    dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    os: `${os.type()} ${os.release()}`,
  };
}

/** 1-minute load average (other work on the machine shares its cores). */
export function loadAverage(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

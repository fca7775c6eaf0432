import { describe, expect, it } from 'vitest';
import { IMAGE_COMMANDS } from '../image/src/commands.ts';
import { containerCommand, probeUrl } from '../image/src/probe.ts';

describe('the image program', () => {
  it('offers the four processes and the operator commands', () => {
    expect(Object.keys(IMAGE_COMMANDS).sort()).toEqual(
      ['api', 'healthcheck', 'key', 'migrate', 'simulator', 'tenant:create', 'worker'].sort(),
    );
  });

  it('finds the container command on PID 1, with or without an init in front', () => {
    expect(containerCommand(['node', 'dist/main.js', 'worker', ''].join('\0'))).toBe('worker');
    expect(containerCommand(['/sbin/docker-init', '--', 'node', 'dist/main.js', 'api', ''].join('\0'))).toBe(
      'api',
    );
    expect(containerCommand(['/sbin/init', ''].join('\0'))).toBe('');
  });

  it('probes each process on its own health endpoint', () => {
    expect(probeUrl('api', { PORT: '3000' })).toBe('http://127.0.0.1:3000/healthz');
    expect(probeUrl('worker', { METRICS_PORT: '9464' })).toBe('http://127.0.0.1:9464/healthz');
    expect(probeUrl('worker', {})).toBeNull();
    expect(probeUrl('simulator', {})).toBe('http://127.0.0.1:4100/__sim/health');
    expect(probeUrl('migrate', {})).toBeNull();
  });
});

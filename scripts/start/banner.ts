import type { Service } from './services.ts';

export interface BannerInput {
  port: number;
  /** The simulator's port, or null when the worker talks to Anthropic. */
  simPort: number | null;
  key: string;
  pg: Service;
  redis: Service;
}

/** What `npm start` prints once the API is ready: where things are, what it used, what to do next. */
export function banner(b: BannerInput): string {
  const api = `http://127.0.0.1:${b.port}`;
  const claude =
    b.simPort === null
      ? 'Anthropic API'
      : `simulator at http://127.0.0.1:${b.simPort} (set ANTHROPIC_API_KEY to use Claude)`;
  return [
    '',
    '  Turnstream is running',
    `    Playground  ${api}/   open it in a browser (the development key is filled in)`,
    `    API         ${api}`,
    `    Claude      ${claude}`,
    `    Postgres    ${b.pg.description}`,
    `    Redis       ${b.redis.description}`,
    `    API key     ${b.key}   (development tenant, admin role)`,
    '',
    `    export TS=${api} KEY=${b.key}`,
    '    then follow the curl session in README.md. Ctrl-C stops everything.',
    '',
  ].join('\n');
}

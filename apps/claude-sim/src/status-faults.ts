import { SimApiError } from './api-error.ts';
import type { ActiveFaultRule, StatusFault } from './faults.ts';

const DEFAULT_RETRY_AFTER_MS = 1000;
const SPEND_LIMIT_CODES = new Set(['enforced_spend_limit_reached', 'contract_spend_limit_reached']);

/** The error a status fault answers with: real status, type, message and headers. */
export function statusFaultError(rule: ActiveFaultRule & { fault: StatusFault }, model: string): SimApiError {
  const opts = { errorCode: rule.errorCode };
  const message = rule.message;
  switch (rule.fault) {
    case 'overloaded':
      return new SimApiError('overloaded_error', message ?? 'Overloaded', {
        ...opts,
        headers: { 'x-should-retry': 'true' },
      });
    case 'server_error':
      return new SimApiError('api_error', message ?? 'Internal server error', {
        ...opts,
        headers: { 'x-should-retry': 'true' },
      });
    case 'rate_limited': {
      const ms = rule.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
      const billing = rule.errorCode !== undefined && SPEND_LIMIT_CODES.has(rule.errorCode);
      const headers: Record<string, string> = billing
        ? { 'x-should-retry': 'false' }
        : {
            'x-should-retry': 'true',
            'retry-after': String(Math.ceil(ms / 1000)),
            'retry-after-ms': String(ms),
            'anthropic-ratelimit-requests-limit': '50',
            'anthropic-ratelimit-requests-remaining': '0',
            'anthropic-ratelimit-requests-reset': new Date(Date.now() + ms).toISOString(),
          };
      const text = billing
        ? 'You have reached your specified API usage limits. You will regain access when the limit resets.'
        : 'This request would exceed the rate limit for your organization of 50 requests per minute. ' +
          'Please try again later.';
      return new SimApiError('rate_limit_error', message ?? text, { ...opts, headers });
    }
    case 'auth':
      return new SimApiError('authentication_error', message ?? 'invalid x-api-key', opts);
    case 'invalid_request':
      return new SimApiError(
        'invalid_request_error',
        message ?? 'Simulated invalid request (claude-sim fault).',
        opts,
      );
    case 'permission':
      return new SimApiError(
        'permission_error',
        message ?? 'Your API key does not have permission to use the specified resource.',
        opts,
      );
    case 'billing':
      return new SimApiError(
        'billing_error',
        message ?? 'Your credit balance is too low to access the Anthropic API.',
        opts,
      );
    case 'not_found':
      return new SimApiError('not_found_error', message ?? `model: ${model}`, opts);
    case 'request_too_large':
      return new SimApiError(
        'request_too_large',
        message ?? 'Request exceeds the maximum allowed number of bytes. The maximum request size is 32 MB.',
        opts,
      );
  }
}

import { z } from 'zod';
import { turnJobSchema } from './turn-job.ts';

/**
 * The JSON Schema (draft 2020-12) of a turn job as producers write it, generated from the zod schema.
 * Published as `@turnstream/contracts/job-schema.json`; rules JSON Schema cannot express (exactly one
 * of `conversationId` and `externalConversationId`; text without NUL or unpaired surrogates; content
 * not whitespace only) are in its `description` and in docs/integration.md.
 */
export function turnJobJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(turnJobSchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  return {
    $schema: generated.$schema,
    title: 'Turnstream turn job',
    description:
      'Data of a BullMQ job named "turn" on the turns-intake (or turns) queue, job id "turn-<messageId>". ' +
      'Version 2 is current, version 1 is still accepted. Also required: exactly one of conversationId and ' +
      'externalConversationId (the latter on the intake queue only, with content); strings without NUL or ' +
      'unpaired surrogates; content not whitespace only (version 2).',
    ...Object.fromEntries(Object.entries(generated).filter(([key]) => key !== '$schema')),
  };
}

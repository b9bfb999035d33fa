import type { ServerContext } from './context.js';
import { HttpError } from './http-error.js';

/**
 * Refuses prompt text that cannot fit the context before it is tokenized: tokenizing runs on
 * the event loop, so an unbounded prompt would stall every other client.
 */
export function checkPromptChars(ctx: Pick<ServerContext, 'limits' | 'model'>, texts: readonly string[], param: string): void {
  let chars = 0;
  for (const t of texts) chars += t.length;
  const cap = ctx.limits.maxPromptChars;
  if (chars > cap) {
    throw new HttpError(
      400,
      `the request's text has ${chars} characters; this server takes at most ${cap} per request (the model's context is ${ctx.model.spec.maxPositions} tokens)`,
      'context_length_exceeded',
      param,
    );
  }
}

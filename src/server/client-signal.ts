import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * An AbortSignal that fires when the client goes away before the response is complete:
 * the response's socket closes while the response is unfinished. (The request's own 'close'
 * event fires once its body has been read, so it says nothing about the client.)
 */
export function clientSignal(req: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) {
      req.log.info('client disconnected; cancelling its work');
      controller.abort();
    }
  });
  return controller.signal;
}

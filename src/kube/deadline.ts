// Per-call options for @kubernetes/client-node that abort the HTTP request after `ms`,
// so a slow apiserver costs a bounded wait and leaves no request hanging behind it.
import type { ConfigurationOptions, RequestContext, ResponseContext } from '@kubernetes/client-node';

export function deadline(ms: number): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: async (ctx: RequestContext) => {
          ctx.setSignal(AbortSignal.timeout(ms));
          return ctx;
        },
        post: async (ctx: ResponseContext) => ctx,
      },
    ],
    middlewareMergeStrategy: 'append',
  } as unknown as ConfigurationOptions;
}

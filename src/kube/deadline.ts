// Per-call options for @kubernetes/client-node that abort the HTTP request after `ms`,
// so a slow apiserver costs a bounded wait and leaves no request hanging behind it.
// client-node's object-style APIs run call-time middleware through their rxjs stub,
// which only calls toPromise() on what `pre`/`post` return; a plain object with that
// method keeps client-node itself out of a cluster-less start (it is loaded lazily).
// test/process/kube-deadline.test.ts proves the abort against a silent HTTP server.
import type { ConfigurationOptions, RequestContext, ResponseContext } from '@kubernetes/client-node';

const resolved = <T>(value: T) => ({ toPromise: () => Promise.resolve(value) });

export function deadline(ms: number): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(AbortSignal.timeout(ms));
          return resolved(ctx);
        },
        post: (ctx: ResponseContext) => resolved(ctx),
      },
    ],
    middlewareMergeStrategy: 'append',
  } as unknown as ConfigurationOptions;
}

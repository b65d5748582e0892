// Shared e2e plumbing: register deploy/base/webhooks.yaml against a local podhooks, make
// namespaces, poll with a deadline, read the apiserver's error message.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../../helpers/podhooks';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value; errors count as "not yet". No timing is asserted. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}

/** The apiserver's error body message (client-node 1.x ApiException). */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    return (typeof body === 'string' ? JSON.parse(body) : (body as { message: string })).message;
  } catch {
    return String((err as Error).message);
  }
}

/** deploy/base/webhooks.yaml with clientConfig pointed at podhooks on 127.0.0.1 and its CA. */
export function webhookManifests(port: number, ca: string): any[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/base/webhooks.yaml'), 'utf8')).map((d) => d.toJS());
  for (const doc of docs) {
    for (const hook of doc.webhooks) {
      hook.clientConfig = { url: `https://127.0.0.1:${port}${hook.clientConfig.service.path}`, caBundle: Buffer.from(ca).toString('base64') };
    }
  }
  return docs;
}

export async function registerWebhooks(admission: AdmissionregistrationV1Api, port: number, ca: string): Promise<void> {
  for (const doc of webhookManifests(port, ca)) {
    if (doc.kind === 'MutatingWebhookConfiguration') await admission.createMutatingWebhookConfiguration({ body: doc });
    else await admission.createValidatingWebhookConfiguration({ body: doc });
  }
}

/** A namespace whose default ServiceAccount exists (the ServiceAccount admission plugin needs it). */
export async function createNamespace(core: CoreV1Api, name: string, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
  await eventually(`serviceaccount ${name}/default`, async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: name })) ?? undefined);
}

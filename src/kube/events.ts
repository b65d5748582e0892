// Kubernetes Events for admission decisions, emitted off the hot path: a bounded queue
// drained by one worker, each API call time-bounded. A full queue drops the event and
// counts it; nothing here can delay or fail an admission answer. Repeats of the same
// event (a ReplicaSet retrying a denied pod) bump `count` instead of piling up objects,
// as client-go's event correlator does.
import { randomBytes } from 'node:crypto';
import type { CoreV1Event, V1ObjectReference } from '@kubernetes/client-node';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { deadline } from './deadline';

export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<void>;
  /** Records one more occurrence of an event created earlier. */
  repeat(namespace: string, name: string, count: number, at: Date, annotations: Record<string, string>): Promise<void>;
}

export interface PodhooksEvent {
  namespace: string;
  involvedObject: V1ObjectReference;
  reason: 'PodhooksDenied' | 'PodhooksWarned' | 'PodhooksAudited';
  message: string;
  /** podhooks.io/rules, podhooks.io/pod, podhooks.io/user: structured data for `podhooks rejections`. */
  annotations: Record<string, string>;
}

export const COMPONENT = 'podhooks';
const MESSAGE_LIMIT = 1024;
const REPEAT_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED = 1000;

export function toCoreEvent(e: PodhooksEvent, name: string, at: Date, instance: string): CoreV1Event {
  return {
    metadata: { name, namespace: e.namespace, annotations: e.annotations },
    involvedObject: e.involvedObject,
    reason: e.reason,
    message: e.message.length > MESSAGE_LIMIT ? `${e.message.slice(0, MESSAGE_LIMIT - 3)}...` : e.message,
    type: e.reason === 'PodhooksAudited' ? 'Normal' : 'Warning',
    count: 1,
    firstTimestamp: at,
    lastTimestamp: at,
    source: { component: COMPONENT },
    reportingComponent: COMPONENT,
    reportingInstance: instance,
  };
}

export interface EventQueueOptions {
  sink: EventSink;
  size: number;
  metrics: Metrics;
  logger: Logger;
  instance: string;
  now?: () => Date;
}

export class EventQueue {
  private readonly queue: PodhooksEvent[] = [];
  private readonly seen = new Map<string, { name: string; count: number; at: number }>();
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: EventQueueOptions) {}

  /** False when the queue is full and the event was dropped (and counted). */
  enqueue(event: PodhooksEvent): boolean {
    if (this.queue.length >= this.opts.size) {
      this.opts.metrics.eventsDropped.inc({ reason: 'queue-full' });
      return false;
    }
    this.queue.push(event);
    if (!this.running) void this.pump();
    return true;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once everything queued so far was sent or dropped (shutdown, tests). */
  idle(): Promise<void> {
    return this.running ? new Promise((r) => this.idleWaiters.push(r)) : Promise.resolve();
  }

  private async pump(): Promise<void> {
    this.running = true;
    while (this.queue.length) {
      const event = this.queue.shift()!;
      try {
        await this.emit(event);
        this.opts.metrics.eventsEmitted.inc();
      } catch (err) {
        this.opts.metrics.eventsDropped.inc({ reason: 'api-error' });
        this.opts.logger.warn({ err: (err as Error).message, reason: event.reason, namespace: event.namespace, involvedObject: event.involvedObject }, 'could not create Kubernetes Event');
      }
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async emit(event: PodhooksEvent): Promise<void> {
    const now = (this.opts.now ?? (() => new Date()))();
    const o = event.involvedObject;
    const key = [event.namespace, o.kind, o.name, o.uid ?? '', event.reason, event.message].join('\u0000');
    const prior = this.seen.get(key);
    if (prior && now.getTime() - prior.at < REPEAT_WINDOW_MS) {
      try {
        await this.opts.sink.repeat(event.namespace, prior.name, prior.count + 1, now, event.annotations);
        prior.count += 1;
        prior.at = now.getTime();
        return;
      } catch (err) {
        // Deleted or expired meanwhile (404): start a new event below.
        if ((err as { code?: number }).code !== 404) throw err;
      }
    }
    const name = `${o.name}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`;
    await this.opts.sink.create(event.namespace, toCoreEvent(event, name, now, this.opts.instance));
    this.seen.delete(key);
    if (this.seen.size >= MAX_TRACKED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { name, count: 1, at: now.getTime() });
  }
}

export function kubeEventSink(core: import('@kubernetes/client-node').CoreV1Api, timeoutMs: number): EventSink {
  return {
    async create(namespace, body) {
      await core.createNamespacedEvent({ namespace, body }, deadline(timeoutMs));
    },
    async repeat(namespace, name, count, at, annotations) {
      const body = [
        { op: 'replace', path: '/count', value: count },
        { op: 'replace', path: '/lastTimestamp', value: at.toISOString() },
        { op: 'replace', path: '/metadata/annotations', value: annotations },
      ];
      await core.patchNamespacedEvent({ namespace, name, body }, deadline(timeoutMs));
    },
  };
}

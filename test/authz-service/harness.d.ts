import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface ServiceStats {
  capacity: number;
  inFlight: number;
  peakConcurrency: number;
  peakAccepted: number;
  requests: number;
  rejected429: number;
  failed: number;
  denied: number;
  badRequests: number;
  registrations: number;
  duplicates: number;
  pods: Record<string, { requests: number; arrivalsMs: number[]; attempts: number[]; statuses: number[]; registered?: { podIP: string; ports: number[] } }>;
}
export interface Service {
  port: number;
  url: string;
  pid: number;
  stats(): Promise<ServiceStats>;
  stop(): Promise<void>;
}
export interface ClientRun {
  uid?: string;
  code: number | null;
  outcome?: string;
  attempts?: number;
  offsetMs: number;
  maxAttempts: number;
  elapsedMs: number;
  stdout: string;
  stderr: string;
  termination: string;
}
export function buildClient(): string;
export function startService(args?: string[]): Promise<Service>;
export function authzContainer(pod: V1Pod): V1Container | undefined;
export function resolveEnv(pod: V1Pod, container: V1Container, fields: Record<string, string>): Record<string, string>;
export function runClient(binary: string, env: Record<string, string>, terminationLog: string): Promise<ClientRun>;
export function runClients(binary: string, pods: V1Pod[], opts?: { url?: string; env?: Record<string, string> }): Promise<ClientRun[]>;
export function rolloutPod(i: number, app?: string): V1Pod;

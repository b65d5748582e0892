export type ImageName = 'tools' | 'pause' | 'static' | 'debian' | 'java';
export const IMAGES: Record<ImageName, string>;
export const OUT: string;
/** The content of /app/marker in the Debian-like image. */
export const MARKER: string;
export interface BuiltImage {
  ref: string;
  /** docker archive for `ctr images import` */
  tar: string;
  /** the same archive unpacked: manifest.json, the config, <layer>/layer.tar */
  dir: string;
}
export function provisionImages(): Record<ImageName, BuiltImage>;
/** ghcr.io/podhooks/podhooks:0.1.0, the repo's Dockerfile built from this checkout (dist/ must be built). */
export const WEBHOOK_IMAGE: string;
export function webhookImage(): Pick<BuiltImage, 'ref' | 'tar'>;
export function sharedLibraries(binaries: string[], opts?: { env?: NodeJS.ProcessEnv; skipUnder?: string }): [string, string][];
export function main(): void;

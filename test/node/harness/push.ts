// Pushes one of the node tier's built images (a docker archive, unpacked) to a registry
// with the distribution API, as Docker schema 2 with a gzipped layer, so containerd on
// the node can pull it and podhooks can read its ENTRYPOINT/CMD from the same registry.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MT, pushBlob, pushManifest, sha256, type PushTarget } from '../../helpers/registry';
import type { BuiltImage } from '../images/images';

export async function pushBuiltImage(target: PushTarget, repo: string, tag: string, image: BuiltImage): Promise<string> {
  const [entry] = JSON.parse(readFileSync(join(image.dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  const config = readFileSync(join(image.dir, entry.Config));
  const layers = entry.Layers.map((l) => gzipSync(readFileSync(join(image.dir, l))));
  for (const layer of layers) await pushBlob(target, repo, layer);
  const configDigest = await pushBlob(target, repo, config);
  const { digest } = await pushManifest(target, repo, tag, MT.dockerManifest, {
    schemaVersion: 2,
    mediaType: MT.dockerManifest,
    config: { mediaType: MT.dockerConfig, digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: MT.dockerLayer, digest: sha256(l), size: l.length })),
  });
  return digest;
}

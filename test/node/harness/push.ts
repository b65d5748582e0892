// Pushes one of the node tier's built images (a docker archive, unpacked) to a registry
// with the distribution API, as Docker schema 2 with a gzipped layer, so containerd on
// the node can pull it and podhooks can read its ENTRYPOINT/CMD from the same registry.
// The pushed image is a distinct image (its config carries a label naming the push):
// with the same image ID as the imported one, the kubelet (KubeletEnsureSecretPulledImages,
// on by default) records the pull under that ID for the registry's name only, and from
// then on pulls the imported name too, which resolves nowhere (ErrImagePull for every
// later pod of the imported image).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MT, pushBlob, pushManifest, sha256, type PushTarget } from '../../helpers/registry';
import type { BuiltImage } from '../images/images';

export async function pushBuiltImage(target: PushTarget, repo: string, tag: string, image: BuiltImage): Promise<string> {
  const [entry] = JSON.parse(readFileSync(join(image.dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  const config = Buffer.from(JSON.stringify(withLabel(JSON.parse(readFileSync(join(image.dir, entry.Config), 'utf8')), `${repo}:${tag}`)));
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

function withLabel(config: { config?: { Labels?: Record<string, string> } }, pushedAs: string) {
  return { ...config, config: { ...config.config, Labels: { ...config.config?.Labels, 'podhooks.test/pushed-as': pushedAs } } };
}

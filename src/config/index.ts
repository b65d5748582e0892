// The config's public face: what a config is (schema.ts) and how one is read (load.ts).
export * from './schema';

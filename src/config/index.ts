// The config's public face: what a config is (schema.ts) and how one is read and checked
// (load.ts). Modules that load.ts imports (the validating rules) take their types from
// schema.ts directly, or they would import themselves through this file.
export * from './schema';
export { loadConfig, parseConfig } from './load';

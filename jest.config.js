// Test tiers (see README "Tests"): unit + golden are pure and fast; process tests start
// real programs (the HTTPS server, busybox, socat, a JVM, a registry); e2e runs against a
// real etcd + kube-apiserver + kube-controller-manager; node adds a kubelet + containerd
// (one node per machine, so npm run test:node runs its files one at a time).
// @kubernetes/client-node 1.x and some of its dependencies ship only ES modules; jest's
// CommonJS runtime on Node 20 cannot load them, so they are transpiled like our sources.
const esmOnly = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'jsonpath-plus'];
const ts = { '^.+\\.(ts|js|mjs)$': ['ts-jest', { tsconfig: { isolatedModules: true, allowJs: true, module: 'commonjs', target: 'ES2022' } }] };
const base = {
  testEnvironment: 'node',
  transform: ts,
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'golden', testMatch: ['<rootDir>/test/golden/**/*.test.ts'] },
    { ...base, displayName: 'process', testMatch: ['<rootDir>/test/process/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...base, displayName: 'node', testMatch: ['<rootDir>/test/node/**/*.test.ts'] },
    // Benchmarks that need the TypeScript harness (npm run bench starts them; never in npm test).
    { ...base, displayName: 'bench', testMatch: ['<rootDir>/bench/**/*.bench.ts'] },
  ],
};

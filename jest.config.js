// Test tiers (see README "Tests"): unit + golden are pure and fast; process tests start
// real programs (the HTTPS server, busybox, socat, a JVM, a registry); e2e runs against a
// real etcd + kube-apiserver + kube-controller-manager.
const ts = { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] };
const base = { testEnvironment: 'node', transform: ts, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'golden', testMatch: ['<rootDir>/test/golden/**/*.test.ts'] },
    { ...base, displayName: 'process', testMatch: ['<rootDir>/test/process/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
};

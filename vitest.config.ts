import { defineConfig } from "vitest/config";

// Unit tests need neither root nor a control plane; integration tests share one real
// kube-apiserver started by the global setup; netns tests need root and skip without it.
export default defineConfig({
  test: {
    // stopping the control plane may take a SIGTERM grace period per process
    teardownTimeout: 20_000,
    // in-process allocators log every assignment at info; keep test output readable
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" },
    projects: [
      { test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          globalSetup: ["tests/harness/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // The node agent on real interfaces: namespaces, veths, raw sockets. Each file starts
        // its own control plane; the tests skip with a message when not root.
        test: {
          name: "netns",
          include: ["tests/netns/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      // A real multi-node cluster (tests/cluster): root, the cluster binaries and images.
      // Only in `npm run test:e2e` (PURELB_E2E=1) until it has proven reliably green here.
      ...(process.env.PURELB_E2E
        ? [
            {
              test: {
                name: "e2e",
                include: ["tests/e2e/**/*.test.ts"],
                testTimeout: 300_000,
                hookTimeout: 600_000,
                fileParallelism: false,
              },
            },
          ]
        : []),
    ],
  },
});

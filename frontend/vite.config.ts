/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies the API and the runtime config to a running gateway
// (GATEWAY_URL, default the `make run` one).
const gateway = process.env.GATEWAY_URL ?? 'http://localhost:3000';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': gateway,
      '/app-config.json': gateway,
    },
  },
  build: {
    // Hashed file names under assets/: the gateway serves them with immutable caching.
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    testTimeout: 60_000,
    // On a loaded 2-core machine (CI) an antd animation or a refetch can still be in
    // flight when a step clicks: one retry; a test that fails twice is a failure.
    retry: 1,
  },
});

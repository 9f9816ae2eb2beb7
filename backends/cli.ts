#!/usr/bin/env node
/**
 * The `sttn` executable: the commands of src/cli bound to the backend registry (kept here because
 * src/ never imports a backend).
 */
import { processIo } from '../src/cli/commands.js';
import { referenceKernelsOnly } from '../src/cli/deploy.js';
import { main } from '../src/cli/main.js';
import { loadBackend } from './index.js';

/** `wasm`: the popcount kernels of backends/ternary-wasm.ts; anything else: the reference. */
const loadKernels = async (name: string) =>
  name === 'wasm' ? (await import('./ternary-wasm.js')).createWasmTernaryKernels() : referenceKernelsOnly(name);

process.exitCode = await main(process.argv.slice(2), loadBackend, processIo, loadKernels);

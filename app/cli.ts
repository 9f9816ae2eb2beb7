#!/usr/bin/env node
/**
 * The `sttn` executable: the commands of app/cli bound to the backend and kernel registries of
 * backends/index.ts. The one place that touches `process`.
 */
import { processIo } from './cli/commands.js';
import { main } from './cli/main.js';
import { loadBackend, loadTernaryKernels } from '../backends/index.js';

process.exitCode = await main(process.argv.slice(2), loadBackend, processIo, loadTernaryKernels);

#!/usr/bin/env node
/**
 * The `sttn` executable: the commands of src/cli bound to the backend registry (kept here because
 * src/ never imports a backend).
 */
import { main } from '../src/cli/main.js';
import { loadBackend } from './index.js';

process.exitCode = await main(process.argv.slice(2), loadBackend);

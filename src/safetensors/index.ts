/**
 * Safetensors in and out: the format (pure), PyTorch names and layouts, and files on disk.
 *
 * Law (laws/safetensors.test.ts).
 */
export { parseSafetensors, serializeSafetensors, halfToNumber, SafetensorsError, MAX_HEADER, type SafetensorsDtype, type SafetensorsFile } from './format.js';
export { pytorchEntries, toSafetensors, fromSafetensors, exportSafetensors, type NameMap, type TorchEntry, type RunTensors } from './pytorch.js';
export { loadSafetensors, saveSafetensors } from './files.js';

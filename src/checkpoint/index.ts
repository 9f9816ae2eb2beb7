/**
 * sttn/checkpoint: versioned checkpoints that resume training bit for bit — the document and its
 * codec (`encodeCheckpoint` / `decodeCheckpoint`, `serializeCheckpoint` / `parseCheckpoint` on
 * bytes), atomic `saveCheckpoint` / `loadCheckpoint` on files (Node) with a SHA-256 checksum
 * written and verified, a training run's checkpoint (`toCheckpoint` / `fromCheckpoint`, which
 * checks every tensor against the model spec) and the bit-exact tensor codec under them.
 *
 * Law (laws/checkpoint.test.ts, laws/run-checkpoint.test.ts, laws/tensor-codec.test.ts): a
 * checkpoint and a run round-trip through a file bit for bit; bad content is a Left naming the
 * file and the field; a changed byte is refused as corrupt; a tensor that does not fit the model
 * is named; a killed or failing save leaves the previous checkpoint.
 */
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkpoint,
  CheckpointError,
  encodeCheckpoint,
  decodeCheckpoint,
  serializeCheckpoint,
  parseCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type CheckpointFields,
  type CheckpointJson,
  type CheckpointVersion,
  type OptimizerState,
  type Progress,
  type SaveOptions,
  type SerializeOptions,
} from './checkpoint.js';
export * from './run.js';
export * from '../tensor-codec.js';

/**
 * sttn/train: the training loop `train()` with its hooks (onStep, onEpoch, shouldStop),
 * `evaluate`, the optimizers (SGD, Adam, schedules) and the softmax cross-entropy loss.
 *
 * Law (laws/train.test.ts, laws/optim.test.ts, laws/loss.test.ts): see each module's header.
 */
export * from './train.js';
export * from './optim.js';
export * from './loss.js';

/**
 * sttn/train: the training loop `train()` with its hooks (onStep, onEpoch, shouldStop),
 * `evaluate`, the optimizers (SGD, Adam, schedules) and the softmax cross-entropy loss.
 *
 * Laws: laws/training.test.ts.
 */
export * from './train.js';
export * from './optim.js';
export * from './loss.js';

/**
 * `sttn zoo list [--json]`: the trained models shipped in the package (src/zoo/), one line each
 * (name, preset, bits, ternary share of the weights, test accuracy, file size and ratio to
 * float32), or the manifest's entries as one JSON document. Beside it, what `eval` and `predict`
 * do with `zoo:NAME` in place of a file: `deployedArg` reads a model from the zoo or a `.sttn`
 * file, `evalZoo` runs the inference engine on the test split and reports as `eval` does.
 *
 * Law (laws/zoo.test.ts): `zoo list` names every manifest entry; `eval zoo:NAME` gives the
 * manifest's accuracy and `predict zoo:NAME` the engine's classes; an unknown name is one line
 * listing the available ones.
 */
import { orThrow } from '../../src/codec.js';
import { loadDeployed } from '../../src/export/container.js';
import type { DeployedModel } from '../../src/export/deployed.js';
import { createEngine } from '../../src/infer/engine.js';
import { engineAccuracy, listZoo, loadZooModel, ternaryShare, zooEntry } from '../../src/zoo/index.js';
import { UsageError, type Parsed } from './args.js';
import { backendFlag, loadTestData } from './commands.js';
import { autoKernels, JSON_FLAG, pollInterrupt, printJson, type Command, type Env } from './env.js';

export const ZOO_PREFIX = 'zoo:';

/** The deployed model a `MODEL` argument names: `zoo:NAME` from the package's zoo, else a `.sttn` file. */
export const deployedArg = (arg: string): Promise<DeployedModel> =>
  arg.startsWith(ZOO_PREFIX) ? loadZooModel(arg.slice(ZOO_PREFIX.length)) : Promise.resolve(orThrow(loadDeployed(arg)));

const kb = (n: number): string => `${(n / 1000).toFixed(1)} kB`;
const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export const zooCommand: Command = {
  summary: 'the trained models shipped with sttn (use them as zoo:NAME in eval and predict)',
  about:
    'List the trained models shipped inside the package: `sttn zoo list`. Each works offline as zoo:NAME: `sttn predict zoo:NAME IMAGE…`, `sttn eval zoo:NAME`; from code, `loadZooModel(name)` in sttn/zoo. `npm run zoo` (in a checkout) retrains each from its recorded command and checks the bytes.',
  positionals: ['list'],
  flags: { ...JSON_FLAG },
  async run(p, env) {
    const sub = p.positionals[0];
    if (sub !== 'list') throw new UsageError(`sttn zoo: unknown subcommand '${sub}' (subcommands: list)`);
    const models = await listZoo();
    if (p.values.json) {
      printJson(env.io, { command: 'zoo list', models: models.map((m) => ({ ...m, ternaryShare: ternaryShare(m), accuracy: m.accuracy.correct / m.accuracy.count, correct: m.accuracy.correct, count: m.accuracy.count })) });
      return 0;
    }
    for (const m of models) {
      env.io.out(
        `${m.name}\t${m.preset} ${m.bits} ${m.weights}\tternary ${pct(ternaryShare(m))} of weights\ttest ${pct(m.accuracy.correct / m.accuracy.count)} (${m.accuracy.correct}/${m.accuracy.count})\t` +
          `${kb(m.bytes)} (float32 ${kb(m.float32Bytes)}, ${(m.float32Bytes / m.bytes).toFixed(2)}× smaller)`,
      );
    }
    return 0;
  },
};

/**
 * `sttn eval zoo:NAME`: the engine's accuracy on the test split of `--data` (default the data
 * the model was trained on, `embedded`), reported with `eval`'s fields.
 */
export async function evalZoo(p: Parsed, env: Env, arg: string): Promise<number> {
  const t0 = performance.now();
  const entry = await zooEntry(arg.slice(ZOO_PREFIX.length));
  const B = await backendFlag('eval', env, p.values.backend as string, p);
  const model = await loadZooModel(entry.name);
  const dataSpec = p.given.has('data') ? (p.values.data as string) : entry.data;
  const test = loadTestData(dataSpec);
  const kernels = await autoKernels(env, 'eval');
  const engine = createEngine(model, { backend: B, kernels });
  const r = await engineAccuracy(engine, test, 256, () => pollInterrupt(env.signal));
  const wall = (performance.now() - t0) / 1000;
  if (p.values.json) {
    printJson(env.io, { command: 'eval', checkpoint: arg, model: model.name, step: (model.source.step as number | undefined) ?? null, data: dataSpec, backend: p.values.backend as string, accuracy: r.accuracy, correct: r.correct, count: r.count, loss: r.loss, wallSeconds: wall });
  } else {
    env.io.out(`test accuracy ${pct(r.accuracy)} (${r.correct}/${r.count}), loss ${r.loss.toFixed(4)} · ${model.name} · ${arg} · ${dataSpec} · wall ${wall.toFixed(1)} s`);
  }
  return 0;
}

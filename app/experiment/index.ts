/**
 * `sttn experiment`: a grid of small trainings that reproduces the paper's measures (Table 1,
 * Tables 2–5 in miniature, Figure 4, Figures 1–2) and reports which claims held at that scale.
 * Modules: grid (cells and presets), run (training, resume), measures, report, svg, xml.
 *
 * Law (laws/experiment.test.ts, laws/svg.test.ts): a tiny grid runs end to end and a rerun trains
 * nothing; the measures equal hand values; the verdicts follow the numbers; the figures are
 * well-formed SVG.
 */
export * from './cell.js';
export * from './grid.js';
export * from './measures.js';
export * from './report.js';
export * from './run.js';
export * as svg from './svg.js';
export * as xml from './xml.js';

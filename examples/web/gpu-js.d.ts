/**
 * gpu.js is an optional peer of sttn: the page imports it (the build bundles it as a lazily loaded
 * chunk) and hands it to `createGpujsBackend` as an opaque module, so an app without gpu.js
 * installed still typechecks this page.
 */
declare module 'gpu.js';

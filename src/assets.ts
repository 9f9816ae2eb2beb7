/**
 * Assets shipped beside sttn's modules (compiled WebAssembly, the embedded digits), loaded the
 * same way in Node and in browsers: a URL relative to the calling module
 * (`new URL('../build/wasm/x.wasm', import.meta.url)`; `npm run build` copies build/ to dist/build/
 * so the same relative URL holds in the checkout and in the package).
 *
 * No `node:` import: in Node a `file:` URL is read through `process.getBuiltinModule` (a run-time
 * capability check, invisible to bundlers); anything else goes through `fetch`. WebAssembly
 * sources may be bytes, a compiled module, a URL or a fetch `Response`; a fetched one is compiled
 * while it streams (`WebAssembly.instantiateStreaming`) when the server sends `application/wasm`,
 * else from its bytes.
 *
 * Law (laws/assets.test.ts): the wasm backend and the ternary kernels load through it from every
 * source kind (bytes, ArrayBuffer, module, URL, URL string, Response with and without the wasm MIME
 * type) and compute as the packaged default; a missing file or an HTTP error is a ConfigError
 * naming the URL (a packaged one also says `npm run build:wasm`). laws/browser-bundle.test.ts: modules using it bundle with no Node built-in.
 */
import { ConfigError } from './errors.js';

/** Where a WebAssembly module comes from. A string is a URL (absolute, or relative to the page). */
export type WasmSource = Uint8Array | ArrayBuffer | WebAssembly.Module | URL | string | Response;

interface NodeFs {
  readFile(path: string): Promise<Uint8Array>;
}
interface NodeUrl {
  fileURLToPath(url: URL): string;
}

/** Node's built-in `name` without importing it (undefined outside Node, or on a Node without it). */
function builtin<T>(name: string): T | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.(name) as T | undefined;
}

/** A string as a URL: absolute, or relative to the page (browsers) — a bare path is an error. */
function toUrl(what: string, s: string | URL): URL {
  if (s instanceof URL) return s;
  try {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    return base ? new URL(s, base) : new URL(s);
  } catch {
    throw new ConfigError(what, `not a URL: ${JSON.stringify(s)} (give a URL, a file: URL, or the bytes)`);
  }
}

/** The bytes at `url`: a file read in Node for `file:` URLs, else `fetch`. */
export async function readAsset(url: URL | string, what = 'asset'): Promise<Uint8Array<ArrayBuffer>> {
  const u = toUrl(what, url);
  if (u.protocol === 'file:') {
    const fs = builtin<NodeFs>('node:fs/promises');
    const path = builtin<NodeUrl>('node:url');
    if (fs && path) {
      try {
        return new Uint8Array(await fs.readFile(path.fileURLToPath(u)));
      } catch (e) {
        throw new ConfigError(what, `cannot read ${u.href}: ${(e as Error).message}`);
      }
    }
  }
  return new Uint8Array(await (await fetchOk(what, u)).arrayBuffer());
}

async function fetchOk(what: string, u: URL): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(u);
  } catch (e) {
    throw new ConfigError(what, `cannot fetch ${u.href}: ${(e as Error).message}`);
  }
  if (!r.ok) throw new ConfigError(what, `cannot fetch ${u.href}: HTTP ${r.status} ${r.statusText}`.trimEnd());
  return r;
}

const isResponse = (s: unknown): s is Response => typeof Response !== 'undefined' && s instanceof Response;

/**
 * A compiled module from any source. A fetched `Response` compiles while it streams when its
 * MIME type is `application/wasm` (else from its bytes). `what` names the caller in errors.
 */
export async function compileWasm(source: WasmSource, what: string): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  const bytes = await wasmBytesOrModule(source, what);
  if (bytes instanceof WebAssembly.Module) return bytes;
  if (!WebAssembly.validate(bytes)) {
    throw new ConfigError(what, 'the module does not validate (not WebAssembly, or this engine lacks the SIMD it needs)');
  }
  return WebAssembly.compile(bytes);
}

/** The bytes of a source, or the module compiled while streaming a fetched response. */
export async function wasmBytesOrModule(source: WasmSource, what: string): Promise<Uint8Array<ArrayBuffer> | WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof Uint8Array) return new Uint8Array(source); // a copy: the caller keeps theirs
  if (source instanceof ArrayBuffer) return new Uint8Array(source.slice(0));
  let response: Response;
  if (isResponse(source)) {
    if (!source.ok) throw new ConfigError(what, `cannot fetch ${source.url || 'the response'}: HTTP ${source.status}`);
    response = source;
  } else {
    const u = toUrl(what, source);
    if (u.protocol === 'file:' && builtin('node:fs/promises')) return readAsset(u, what);
    response = await fetchOk(what, u);
  }
  const wasmMime = (response.headers.get('content-type') ?? '').split(';')[0].trim() === 'application/wasm';
  if (wasmMime && typeof WebAssembly.compileStreaming === 'function') {
    try {
      return await WebAssembly.compileStreaming(response.clone());
    } catch {
      // fall back to the bytes (validation below gives the clearer error)
    }
  }
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * `load` of a file sttn ships (build/wasm/, made by `npm run build:wasm`): a ConfigError it throws
 * (a missing file, an HTTP error) keeps its field and says how to make the file.
 */
async function withBuildHint<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.field, `${e.message.slice(e.field.length + 2)} (run \`npm run build:wasm\`)`);
    throw e;
  }
}

/** `compileWasm` of a packaged file at `url`; a missing one is a ConfigError naming `what`, the URL and `npm run build:wasm`. */
export const compilePackaged = (url: URL, what: string): Promise<WebAssembly.Module> => withBuildHint(() => compileWasm(url, what));

/** `wasmBytesOrModule` of a packaged file at `url`, with the same hint as `compilePackaged`. */
export const packagedBytesOrModule = (url: URL, what: string): Promise<Uint8Array<ArrayBuffer> | WebAssembly.Module> =>
  withBuildHint(() => wasmBytesOrModule(url, what));

/** `source` instantiated with `imports` (compiled while streaming where it can be). */
export async function instantiateWasm(source: WasmSource, imports: WebAssembly.Imports, what: string): Promise<WebAssembly.Instance> {
  const module = await compileWasm(source, what);
  return WebAssembly.instantiate(module, imports);
}

/**
 * Node 20's V8 keeps relaxed SIMD behind `--experimental-wasm-relaxed-simd` (on by default from
 * V8 11.4, Node 22), read when a module is validated or compiled: set it before compiling a
 * relaxed build. Elsewhere (browsers, a V8 without the flag) it does nothing and validation decides.
 */
export function enableRelaxedSimd(): void {
  const p = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  if (!p?.versions?.node) return;
  try {
    (p.getBuiltinModule?.('node:v8') as { setFlagsFromString(flags: string): void } | undefined)?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // no such flag on this V8
  }
}

/**
 * `sttn serve [--port N] [--host H] [--dir D]`: a static file server (node:http) for the browser
 * demo page (`npm run build:web` builds it into examples/web/dist/, the default --dir) or any
 * folder. Every response carries the page's strict Content-Security-Policy (`CSP`: scripts only
 * from this origin, WebAssembly compiled without eval, no `unsafe-eval` or inline script),
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`
 * (cross-origin isolation, so SharedArrayBuffer is available to threads), `nosniff`, and the MIME
 * type of its extension (`application/wasm`, which `WebAssembly.instantiateStreaming` requires).
 * Only GET and HEAD; a path that leaves the folder (`..`, an encoded `%2e%2e`, a symbolic link
 * pointing out) is 403, a missing file 404, a folder serves its index.html. A filesystem error
 * while answering (a file removed meanwhile, unreadable) is a 404, 403 or 500 without details, and
 * the server goes on.
 *
 * It prints one line, `serving DIR at http://HOST:PORT/` (with `--port 0`, the port the system
 * chose), and runs until Ctrl-C or SIGTERM (the environment's signal), then closes and exits 130
 * or 143 as every command does. A missing folder or a port in use is a one-line failure (exit 1)
 * naming the folder or the port; a bad flag value a usage error (exit 2).
 *
 * Law (laws/serve.test.ts): headers and MIME types, traversal refused, HEAD, 404/405, an I/O
 * error mid-request a 500 and the server still answering, a port in
 * use and a missing folder are exit 1 naming them, the signal stops it with 130; the page's
 * `<meta>` policy equals the header's (laws/browser-page.test.ts loads the page through it).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { packageFile } from '../../src/package-files.js';
import { ints, type Flags } from './args.js';
import { stopCode, type Command } from './env.js';

/** The page's policy: scripts from this origin only; WebAssembly may compile, JavaScript may not be generated. */
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

export const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.gz': 'application/gzip',
  '.sttn': 'application/octet-stream',
};

/**
 * The built demo page: examples/web/dist of sttn's own checkout, the folder above this module whose
 * package.json is named `sttn` (src/package-files.ts), never another project's examples/.
 */
export const defaultPageDir = (): string => packageFile('examples', 'web', 'dist');

/** The file under `root` (a real path) that `url` names, or why not: 403 outside it, 404 missing. */
export function resolveRequest(root: string, url: string): { file: string } | { status: 403 | 404 | 400 } {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://x').pathname);
  } catch {
    return { status: 400 };
  }
  if (path.includes('\0')) return { status: 400 };
  const inside = (p: string): boolean => p === root || p.startsWith(root + sep);
  let file = resolve(root, '.' + path);
  if (!inside(file)) return { status: 403 };
  if (!existsSync(file)) return { status: 404 };
  // a symbolic link may point out of the folder
  file = realpathSync(file);
  if (!inside(file)) return { status: 403 };
  if (statSync(file).isDirectory()) {
    file = join(file, 'index.html');
    if (!existsSync(file)) return { status: 404 };
    // and so may a folder's index.html
    file = realpathSync(file);
    if (!inside(file)) return { status: 403 };
  }
  return statSync(file).isFile() ? { file } : { status: 404 };
}

/** A filesystem error met while answering (a file removed meanwhile, unreadable, an I/O error): its status. */
const errorStatus = (e: unknown): 403 | 404 | 500 => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' ? 404 : code === 'EACCES' || code === 'EPERM' ? 403 : 500;
};

const REASON: Readonly<Record<number, string>> = { 400: 'bad request', 403: 'forbidden', 404: 'not found', 500: 'internal error' };

function handler(dir: string): (req: IncomingMessage, res: ServerResponse) => void {
  const root = realpathSync(resolve(dir));
  return (req, res) => {
    const plain = (status: number, text: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
      res.end(req.method === 'HEAD' ? undefined : `${status} ${text}\n`);
    };
    const answer = async (): Promise<void> => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'method not allowed', { Allow: 'GET, HEAD' });
      const r = resolveRequest(root, req.url ?? '/');
      if ('status' in r) return plain(r.status, REASON[r.status]);
      // opened before the headers go out: the size and the bytes are of one file, and a failure is still a status
      const fh = await open(r.file, 'r');
      let size: number;
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
        size = st.size;
      } catch (e) {
        await fh.close();
        throw e;
      }
      const type = MIME[extname(r.file).toLowerCase()] ?? 'application/octet-stream';
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(size) });
      if (req.method === 'HEAD') {
        await fh.close();
        return void res.end();
      }
      fh.createReadStream()
        .on('error', () => res.destroy())
        .pipe(res);
    };
    // never a stack trace to the client, and never an exception that stops the server
    answer().catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      const status = errorStatus(e);
      plain(status, REASON[status]);
    });
  };
}

/**
 * Serve folder `root` on host:port; a port in use or refused is a ConfigError naming `--port` and
 * the port. Once listening, a server error goes to `onError` (default: ignored) instead of
 * stopping the process.
 */
export function listen(root: string, port: number, host: string, onError: (e: Error) => void = () => {}): Promise<Server> {
  return new Promise((ok, fail) => {
    const server = createServer(handler(root));
    const early = (e: NodeJS.ErrnoException): void => {
      if (e.code === 'EADDRINUSE') fail(new ConfigError('--port', `port ${port} on ${host} is in use (another server?); choose another with --port N, or --port 0 for any free one`));
      else if (e.code === 'EACCES') fail(new ConfigError('--port', `port ${port} on ${host} needs privileges this process does not have; use a port ≥ 1024`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(new ConfigError('--host', `'${host}' is not an address of this machine`));
      else fail(e);
    };
    server.once('error', early);
    server.listen(port, host, () => {
      server.off('error', early);
      server.on('error', onError);
      ok(server);
    });
  });
}

const SERVE_FLAGS: Flags = {
  port: { type: 'string', default: '8080', range: ints(0, 65_535), help: 'TCP port (0: any free port, printed)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface)' },
  dir: { type: 'string', help: 'folder to serve (default: the demo page built by `npm run build:web`, examples/web/dist)' },
};

export const serveCommand: Command = {
  summary: 'serve the browser demo page (or a folder) with its strict CSP and cross-origin isolation',
  about:
    'Serve the demo page built by `npm run build:web` (or --dir) over HTTP, every response with the page\'s Content-Security-Policy, COOP/COEP and the right MIME types (application/wasm). Runs until Ctrl-C.',
  positionals: [],
  flags: SERVE_FLAGS,
  async run(p, env) {
    const port = Number(p.values.port);
    const host = String(p.values.host);
    const given = p.values.dir as string | undefined;
    const dir = resolve(given ?? defaultPageDir());
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new ConfigError('--dir', given === undefined ? `${dir} does not exist: build the page with \`npm run build:web\` in a checkout of sttn, or give --dir` : `${dir} is not a folder`);
    }
    const root = realpathSync(dir);
    const server = await listen(root, port, host, (e) => env.io.err.write(`sttn serve: ${e.message}\n`));
    const addr = server.address();
    const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
    env.io.out(`serving ${root} at http://${host.includes(':') ? `[${host}]` : host}:${bound}/`);
    await new Promise<void>((done) => {
      if (env.signal.aborted) return done();
      env.signal.addEventListener('abort', () => done(), { once: true });
    });
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
    return stopCode(env.signal);
  },
};

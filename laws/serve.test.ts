/**
 * `sttn serve` (app/cli/serve.ts): the demo page's static server. Every response carries the
 * strict CSP and cross-origin isolation headers, files get their MIME type (application/wasm
 * for WebAssembly), no request path reaches a file outside the folder, and the failures a user
 * meets (a port in use, a missing folder) are one line and exit 1 naming them. The page's
 * `<meta>` policy is the header's, so the page is as strict opened from any static server.
 */
import fc from 'fast-check';
import fs, { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { main } from '../app/cli/main.js';
import { CSP, resolveRequest } from '../app/cli/serve.js';
import { captureIo, cliEnv } from './cli-io.js';
import { example, law } from './law.js';

const base = mkdtempSync(join(tmpdir(), 'sttn-serve-'));
const root = join(base, 'site');
mkdirSync(join(root, 'sub'), { recursive: true });
writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
writeFileSync(join(root, 'k.wasm'), Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
writeFileSync(join(root, 'sub', 'a.js'), 'export const a = 1;\n');
writeFileSync(join(root, 'style.css'), 'body{}');
writeFileSync(join(base, 'secret.txt'), 'secret');
symlinkSync(join(base, 'secret.txt'), join(root, 'leak.txt'));
// a folder whose index.html is a link out of the folder
mkdirSync(join(root, 'out'));
symlinkSync(join(base, 'secret.txt'), join(root, 'out', 'index.html'));
// a link to nothing, and a file the law makes fail to stat (an I/O error mid-request)
symlinkSync(join(base, 'no-such-file'), join(root, 'dangling.txt'));
writeFileSync(join(root, 'eio.txt'), 'x');

after(() => rmSync(base, { recursive: true, force: true }));

interface Running {
  readonly port: number;
  readonly stop: (reason?: string) => Promise<{ code: number; err: string }>;
}

/** `sttn serve --port 0 …` in-process; resolves once it prints its address (20 s allowed: a loaded machine), else stops it and throws. */
async function serve(args: readonly string[]): Promise<Running> {
  const io = captureIo();
  const ctl = new AbortController();
  const done = main(['serve', '--port', '0', ...args], cliEnv(io, ctl.signal));
  let m: RegExpExecArray | null = null;
  try {
    for (const start = Date.now(); io.stdout.length === 0 && Date.now() - start < 20_000; ) {
      const early = await Promise.race([done, new Promise<null>((r) => setTimeout(() => r(null), 10))]);
      if (early !== null) throw new Error(`serve exited ${early}: ${io.stderr.join('')}`);
    }
    m = /^serving (.+) at http:\/\/127\.0\.0\.1:(\d+)\/$/.exec(io.stdout[0] ?? '');
    if (m === null) throw new Error(`serve printed ${JSON.stringify(io.stdout)} within 20 s`);
  } finally {
    // on the error path the server must not go on listening (the file would run until the test timeout)
    if (m === null) ctl.abort('SIGTERM');
  }
  return {
    port: Number(m[2]),
    stop: async (reason = 'SIGINT') => {
      ctl.abort(reason);
      return { code: await done, err: io.stderr.join('') };
    },
  };
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A raw request: the path goes out as written (fetch would normalise `..` away). */
const get = (port: number, path: string, method = 'GET'): Promise<Reply> =>
  new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });

const isolated = (r: Reply): boolean =>
  r.headers['content-security-policy'] === CSP &&
  r.headers['cross-origin-opener-policy'] === 'same-origin' &&
  r.headers['cross-origin-embedder-policy'] === 'require-corp' &&
  r.headers['x-content-type-options'] === 'nosniff';

example("the policy forbids generated JavaScript and allows WebAssembly: script-src 'self' 'wasm-unsafe-eval', no 'unsafe-eval' or 'unsafe-inline'", () => {
  const script = CSP.split(';').map((s) => s.trim()).find((s) => s.startsWith('script-src '));
  return script === "script-src 'self' 'wasm-unsafe-eval'" && !CSP.includes("'unsafe-eval'") && !CSP.includes("'unsafe-inline'");
});

example("the demo page's <meta> policy is the server's header", () => {
  const html = readFileSync(join('examples', 'web', 'index.html'), 'utf8');
  const m = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html);
  // a <meta> policy ignores frame-ancestors and sandbox; the page's must not need them
  return m !== null && m[1] === CSP;
});

example('serve: files with their MIME types and the isolation headers, a folder its index.html, HEAD without a body; 404, 405', async () => {
  const s = await serve(['--dir', root]);
  try {
    const [index, wasm, js, css, head, missing, post] = await Promise.all([
      get(s.port, '/'),
      get(s.port, '/k.wasm'),
      get(s.port, '/sub/a.js'),
      get(s.port, '/style.css'),
      get(s.port, '/k.wasm', 'HEAD'),
      get(s.port, '/nope.js'),
      get(s.port, '/index.html', 'POST'),
    ]);
    return (
      [index, wasm, js, css, head, missing, post].every(isolated) &&
      index.status === 200 && index.headers['content-type'] === 'text/html; charset=utf-8' && index.body.toString().includes('<title>t</title>') &&
      wasm.status === 200 && wasm.headers['content-type'] === 'application/wasm' && wasm.body.length === 8 &&
      js.headers['content-type'] === 'text/javascript; charset=utf-8' && css.headers['content-type'] === 'text/css; charset=utf-8' &&
      head.status === 200 && head.headers['content-length'] === '8' && head.body.length === 0 &&
      missing.status === 404 && post.status === 405 && post.headers.allow === 'GET, HEAD'
    );
  } finally {
    await s.stop();
  }
});

example('serve: .., its encodings and a symbolic link out of the folder never reach a file outside it', async () => {
  const s = await serve(['--dir', root]);
  try {
    const rs = await Promise.all(['/../secret.txt', '/%2e%2e/secret.txt', '/sub/..%2f..%2fsecret.txt', '/leak.txt', '/..%5csecret.txt', '/out/', '/out'].map((p) => get(s.port, p)));
    return rs.every((r) => r.status >= 400 && r.status < 500 && !r.body.toString().includes('secret') && isolated(r));
  } finally {
    await s.stop();
  }
});

/** Path pieces that try to climb out: dots, encoded dots and slashes, backslashes, NUL. */
const piece = fc.constantFrom('..', '.', '%2e%2e', '%2E.', '%2f', '%5c', '\\', 'sub', 'index.html', 'secret.txt', 'leak.txt', '%00', '', '%', '~', 'out', 'dangling.txt');

law(
  'resolveRequest: any path of dots, encoded slashes and names gives a file inside the folder or a 4xx, never a file outside',
  [fc.array(piece, { maxLength: 8 })],
  (parts) => {
    const r = resolveRequest(root, '/' + parts.join('/'));
    // the file itself, links followed, is inside
    return 'file' in r ? realpathSync(r.file).startsWith(realpathSync(root) + sep) : r.status === 400 || r.status === 403 || r.status === 404;
  },
  { numRuns: 300 },
);

example('serve: a filesystem error mid-request (stat failing with EIO) is a 500 without a stack trace, a dangling link a 404, and the server answers the next request', async () => {
  const s = await serve(['--dir', root]);
  // node:fs's default export is writable at run time; its types say read-only
  const writable = fs as { statSync: typeof fs.statSync };
  const real = fs.statSync;
  const restore = (): void => {
    writable.statSync = real;
    syncBuiltinESMExports();
  };
  try {
    // the failure a disk or a file removed at the wrong moment gives: node:fs's named exports follow the patched default
    writable.statSync = ((p: fs.PathLike, o?: fs.StatSyncOptions) => {
      if (String(p).endsWith('eio.txt')) throw Object.assign(new Error(`EIO: i/o error, stat '${String(p)}'`), { code: 'EIO' });
      return real(p, o);
    }) as typeof fs.statSync;
    syncBuiltinESMExports();
    const broken = await get(s.port, '/eio.txt').catch((e: Error) => ({ status: 0, headers: {}, body: Buffer.from(e.message) }) as Reply);
    restore();
    const dangling = await get(s.port, '/dangling.txt');
    const next = await get(s.port, '/');
    const fine = await get(s.port, '/eio.txt');
    if (broken.status !== 500) console.error(`EIO answered ${broken.status}: ${broken.body.toString()}`);
    return (
      broken.status === 500 && isolated(broken) && !broken.body.toString().includes('    at ') && !broken.body.toString().includes('EIO') &&
      dangling.status === 404 && next.status === 200 && fine.status === 200 && fine.body.toString() === 'x'
    );
  } finally {
    restore();
    await s.stop();
  }
});

example('serve: a port in use is exit 1 naming the port; a missing folder exit 1 naming it; nothing on stdout', async () => {
  const blocker: Server = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const io1 = captureIo();
    const busy = await main(['serve', '--port', String(port), '--dir', root], cliEnv(io1));
    const io2 = captureIo();
    const gone = await main(['serve', '--port', '0', '--dir', join(base, 'no-such-dir')], cliEnv(io2));
    const err1 = io1.stderr.join('');
    const err2 = io2.stderr.join('');
    return (
      busy === 1 && io1.stdout.length === 0 && err1.includes(`port ${port}`) && err1.split('\n').filter(Boolean).length === 1 && !err1.includes('    at ') &&
      gone === 1 && io2.stdout.length === 0 && err2.includes('no-such-dir') && err2.split('\n').filter(Boolean).length === 1
    );
  } finally {
    blocker.close();
  }
});

example('serve: Ctrl-C stops it with 130 and SIGTERM with 143, the port released', async () => {
  const a = await serve(['--dir', root]);
  const ra = await a.stop('SIGINT');
  const b = await serve(['--dir', root]);
  const rb = await b.stop('SIGTERM');
  const after = await get(a.port, '/').then(() => 'answered', () => 'refused');
  return ra.code === 130 && rb.code === 143 && after === 'refused';
});

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import t from 'tap';
import { buildThreatCloud } from './fixtures.js';

// What the browser tests load, checked at the HTTP level: types, caching, CSP, no limiter.
// One engine: static files and headers, no stored row is read.

t.test('the console and uPlot are served from our own origin with types and cache headers', async (t) => {
  const tc = await buildThreatCloud(t, { env: { RATE_LIMIT_SCALE: '1' } });
  const get = (url: string, headers: Record<string, string> = {}) => tc.inject({ method: 'GET', url, key: null, headers });

  const index = await get('/');
  t.equal(index.statusCode, 200);
  t.match(index.headers['content-type'], 'text/html');
  t.equal(index.headers['content-security-policy'], "default-src 'self'");
  t.equal(index.headers['cache-control'], 'no-cache', 'revalidated, so an upgrade is seen at once');
  t.notMatch(index.body, /<script>|<style|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler: CSP would block them');
  t.notMatch(index.body, /https?:\/\//, 'nothing from another origin');

  for (const [url, type] of [
    ['/console/js/main.js', 'text/javascript'],
    ['/console/js/views/lookup.js', 'text/javascript'],
    ['/console/console.css', 'text/css'],
    ['/favicon.svg', 'image/svg+xml'],
  ] as const) {
    const res = await get(url);
    t.equal(res.statusCode, 200, url);
    t.match(res.headers['content-type'], type, url);
  }

  const uplotDir = path.dirname(createRequire(import.meta.url).resolve('uplot'));
  const uplot = await get('/console/vendor/uPlot.iife.min.js');
  t.equal(uplot.statusCode, 200);
  t.match(uplot.headers['content-type'], 'text/javascript');
  t.equal(uplot.body, readFileSync(path.join(uplotDir, 'uPlot.iife.min.js'), 'utf8'), 'the installed package, byte for byte');
  t.equal(uplot.headers['cache-control'], 'public, max-age=3600');
  const css = await get('/console/vendor/uPlot.min.css');
  t.match(css.headers['content-type'], 'text/css');

  const again = await get('/console/vendor/uPlot.iife.min.js', { 'if-none-match': String(uplot.headers.etag) });
  t.equal(again.statusCode, 304, 'ETag revalidation');
  t.equal(again.body, '');

  for (const missing of ['/console/nope.js', '/console/../app.ts', '/console/js/%2e%2e/%2e%2e/routes/console.ts']) {
    const res = await get(missing);
    t.equal(res.statusCode, 404, missing);
    t.same(res.json(), { ok: false, error: 'Not found', code: res.json().code }, missing);
  }

  // One page load is a dozen files: loading the console twice a minute must not hit the
  // unauthenticated per-IP limit (30 a minute) that slows key guessing.
  for (let i = 0; i < 40; i += 1) {
    const res = await get(i % 2 ? '/' : '/console/js/api.js');
    if (res.statusCode !== 200) {
      t.fail(`request ${i} answered ${res.statusCode}`);
      break;
    }
  }
  t.equal((await tc.inject({ method: 'GET', url: '/api/stats', key: 'wrong-key' })).statusCode, 401, 'API routes still guarded');
});

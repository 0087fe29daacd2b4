import t from 'tap';
import { buildManager } from './fixtures.js';

t.test('the OpenAPI document lists every Manager route and hides no secret', async (t) => {
  const { app } = await buildManager(t);
  const res = await app.inject({ url: '/docs/json' });
  t.equal(res.statusCode, 200);
  const doc = res.json() as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
  for (const route of [
    'POST /api/agents/register',
    'POST /api/agents/{id}/heartbeat',
    'POST /api/agents/{id}/events',
    'GET /api/agents',
    'GET /api/agents/{id}',
    'DELETE /api/agents/{id}',
    'GET /api/threats',
    'GET /api/threats/summary',
    'POST /api/policy',
    'GET /api/policy/active',
    'GET /api/policy/history',
    'GET /api/policy/agent/{id}',
    'PUT /api/policy/agent/{id}',
    'DELETE /api/policy/agent/{id}',
    'GET /api/events/stream',
    'GET /api/overview',
    'GET /health',
  ]) {
    t.ok(routes.includes(route), route);
  }
  t.notMatch(res.body, 'test-manager-token');
});

t.test('the dashboard files are served without a token, with their types and the strict CSP', async (t) => {
  const { app } = await buildManager(t);
  for (const [url, type] of [
    ['/', 'text/html'],
    ['/dashboard', 'text/html'],
    ['/dashboard.js', 'text/javascript'],
    ['/dashboard.css', 'text/css'],
    ['/favicon.svg', 'image/svg+xml'],
  ] as const) {
    const res = await app.inject({ url });
    t.equal(res.statusCode, 200, url);
    t.match(res.headers['content-type'], type, url);
    t.equal(res.headers['content-security-policy'], "default-src 'self'", url);
  }
  const html = (await app.inject({ url: '/' })).body;
  t.notMatch(html, /<script>|<style>|\son\w+=|https?:\/\//, 'no inline script, style or handler, and no external URL');
  t.match(html, '<script src="/dashboard.js" defer></script>');
  const js = (await app.inject({ url: '/dashboard.js' })).body;
  t.match(js, 'sessionStorage');
  t.notMatch(js, 'localStorage', 'the token is never persisted beyond the tab');
  t.notMatch(js, 'new EventSource', 'the stream is read with fetch so the token stays in a header');
});

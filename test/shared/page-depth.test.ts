import t, { type Test } from 'tap';
import type { App } from '../../src/shared/base-app.js';
import { MAX_PAGE_OFFSET, PAGE_TOO_DEEP_MESSAGE } from '../../src/shared/page-depth.js';
import { buildAuth, registerAdmin } from '../auth/fixtures.js';
import { buildManager, OPERATOR } from '../manager/fixtures.js';
import { BOOTSTRAP_KEY, buildThreatCloud } from '../threat-cloud/fixtures.js';
import { authHeader } from '../helper.js';

interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema?: { maximum?: number } }[];
}

/** Every GET operation whose query declares page and limit, read from the service's own OpenAPI document. */
async function paginatedRoutes(app: App): Promise<{ path: string; maxLimit: number; required: string[] }[]> {
  const doc = (await app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, Operation>> };
  const routes: { path: string; maxLimit: number; required: string[] }[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    const query = (methods.get?.parameters ?? []).filter((p) => p.in === 'query');
    const limit = query.find((p) => p.name === 'limit');
    if (!query.some((p) => p.name === 'page') || !limit) continue;
    routes.push({ path, maxLimit: limit.schema?.maximum ?? 200, required: query.filter((p) => p.required).map((p) => p.name) });
  }
  return routes;
}

/** Query values for required filters, so a request reaches the page check. */
const REQUIRED_VALUES: Record<string, string> = { value: '203.0.113.9' };

async function checkService(t: Test, app: App, headers: Record<string, string>, expected: string[]) {
  const routes = await paginatedRoutes(app);
  t.same(routes.map((r) => r.path).sort(), [...expected].sort(), 'the paginated routes of the service');
  for (const route of routes) {
    const extra = route.required.map((name) => `&${name}=${encodeURIComponent(REQUIRED_VALUES[name] ?? 'x')}`).join('');
    for (const limit of [route.maxLimit, 50, 1]) {
      if (limit > route.maxLimit) continue;
      const firstTooDeep = Math.floor(MAX_PAGE_OFFSET / limit) + 1;
      const deep = await app.inject({ url: `${route.path}?page=${firstTooDeep}&limit=${limit}${extra}`, headers });
      t.equal(deep.statusCode, 400, `${route.path} page ${firstTooDeep} × ${limit} is too deep`);
      t.same(deep.json(), { ok: false, error: PAGE_TOO_DEEP_MESSAGE, code: 'PAGE_TOO_DEEP' }, `${route.path}: the contract's message`);
      const last = await app.inject({ url: `${route.path}?page=${firstTooDeep - 1}&limit=${limit}${extra}`, headers });
      t.equal(last.statusCode, 200, `${route.path} page ${firstTooDeep - 1} × ${limit} still answers`);
      t.equal(last.json().pagination.page, firstTooDeep - 1);
    }
  }
  const unauthenticated = await app.inject({ url: `${routes[0]!.path}?page=100000&limit=200` });
  t.equal(unauthenticated.statusCode, 401, 'credentials are checked before the page depth');
}

t.test('Auth Server: pages that start beyond row 10,000 are a 400 on every paginated route', async (t) => {
  const fixture = await buildAuth(t);
  const admin = await registerAdmin(fixture.app);
  await checkService(t, fixture.app, admin.headers, ['/api/admin/users', '/api/admin/sessions', '/api/admin/audit-log']);
});

t.test('Manager: pages that start beyond row 10,000 are a 400 on every paginated route', async (t) => {
  const { app } = await buildManager(t);
  await checkService(t, app, OPERATOR, ['/api/agents', '/api/threats', '/api/policy/history']);
});

t.test('Threat Cloud: pages that start beyond row 10,000 are a 400 on every paginated route', async (t) => {
  const { app } = await buildThreatCloud(t);
  await checkService(t, app, authHeader(BOOTSTRAP_KEY), ['/api/iocs', '/api/sightings', '/api/campaigns', '/api/audit-log']);
});

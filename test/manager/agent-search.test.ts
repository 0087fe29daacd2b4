import { selectRows } from '../engines.js';
import { buildManagerOn, onBothEngines, OPERATOR, register, type RegisteredAgent } from './fixtures.js';

/**
 * The plain reference query in each dialect. Both fold ASCII letters only, as the search does
 * (SQLite's lower() and NOCASE; ascii_lower on PostgreSQL, whose lower() folds every letter),
 * and compare the folded text bytewise (the test cluster's collation is C.UTF-8).
 */
const DIALECT = {
  sqlite: {
    tags: 'SELECT value FROM json_each(@tags)',
    orgNull: '@orgId IS NULL',
    fromNull: '@from IS NULL',
    toNull: '@to IS NULL',
    q: '(@q IS NULL OR substr(lower(a.hostname), 1, length(@q)) = lower(@q))',
    hostname: (dir: string) => `a.hostname COLLATE NOCASE ${dir}, a.id ${dir}`,
  },
  postgres: {
    tags: 'SELECT json_array_elements_text(CAST(@tags AS json))',
    orgNull: 'CAST(@orgId AS text) IS NULL',
    fromNull: 'CAST(@from AS bigint) IS NULL',
    toNull: 'CAST(@to AS bigint) IS NULL',
    q: '(CAST(@q AS text) IS NULL OR substr(ascii_lower(a.hostname), 1, length(CAST(@q AS text))) = ascii_lower(@q))',
    hostname: (dir: string) => `ascii_lower(a.hostname) ${dir}, a.id ${dir}`,
  },
} as const;

/**
 * Fleet search and sort (additive to the contract): `q` is a hostname prefix ignoring ASCII
 * case, `sort` one of registeredAt (default), hostname, lastHeartbeat, `order` asc or desc.
 * Every combination with the existing filters pages like the plain SQL below and totals exactly.
 */
onBothEngines('agent list: q, sort and order on every filter combination page and total like a plain query', async (t, engine) => {
  const { app, storage, clock } = await buildManagerOn(t, engine);
  const dialect = DIALECT[engine];
  const names = ['Web-01', 'web-02', 'WEB-10', 'web_x', 'webby', 'db-01', 'DB-02', 'edge%1', 'edge-2', 'Ünïcode-1', 'web-03', 'mail', 'web-04', 'web[1', 'web-05'];
  const orgs = ['default', 'acme'];
  const tagSets = [['prod'], ['prod', 'web'], [], ['web']];
  const agents: RegisteredAgent[] = [];
  for (let i = 0; i < names.length * 2; i++) {
    const name = names[i % names.length]!;
    agents.push(await register(app, { hostname: name, org_id: orgs[Math.floor(i / names.length)], tags: tagSets[i % tagSets.length] }));
    clock.advance(7_000);
  }
  // Heartbeats in another order than registration, leaving online, stale and offline agents.
  for (const [i, agent] of agents.entries()) {
    if (i % 3 === 0) continue;
    clock.advance(((i * 7) % 11) * 1_000);
    await app.inject({ method: 'POST', url: `/api/agents/${agent.id}/heartbeat`, headers: agent.headers, payload: {} });
  }
  clock.advance(150_000);

  const now = clock.now();
  const ranges = { online: [now - 120_000 + 1, null], offline: [null, now - 300_000 + 1] } as const;
  const orderBy = {
    registeredAt: (dir: string) => `a.registered_at ${dir}, a.id ${dir}`,
    hostname: dialect.hostname,
    lastHeartbeat: (dir: string) => `a.last_heartbeat_ms ${dir}, a.rowid ${dir}`,
  } as const;
  let checked = 0;
  for (const q of [undefined, 'web', 'WEB-0', 'web_', 'edge%', 'web[', 'db', 'ü', 'nothing']) {
    for (const status of [undefined, 'online', 'offline'] as const) {
      for (const orgId of [undefined, 'acme']) {
        for (const tags of [[], ['prod']]) {
          const [from, to] = status ? ranges[status] : [null, null];
          const where = `WHERE (${dialect.orgNull} OR a.org_id = @orgId) AND (${dialect.fromNull} OR a.last_heartbeat_ms >= @from) AND (${dialect.toNull} OR a.last_heartbeat_ms < @to)
            AND (@tagCount = 0 OR (SELECT COUNT(*) FROM agent_tags t WHERE t.agent_id = a.id AND t.tag IN (${dialect.tags})) = @tagCount)
            AND ${dialect.q}`;
          const params = { orgId: orgId ?? null, from, to, tags: JSON.stringify(tags), tagCount: tags.length, q: q ?? null };
          const total = Number((await selectRows<{ n: number }>(storage, `SELECT COUNT(*) AS n FROM agents a ${where}`, params))[0]!.n);
          for (const sort of [undefined, 'registeredAt', 'hostname', 'lastHeartbeat'] as const) {
            for (const order of [undefined, 'asc', 'desc'] as const) {
              const dir = (order ?? (sort === 'hostname' ? 'asc' : 'desc')).toUpperCase();
              const query = [
                q === undefined ? '' : `q=${encodeURIComponent(q)}`,
                status ? `status=${status}` : '',
                orgId ? `org_id=${orgId}` : '',
                ...tags.map((tag) => `tag=${tag}`),
                sort ? `sort=${sort}` : '',
                order ? `order=${order}` : '',
              ]
                .filter(Boolean)
                .join('&');
              for (const page of [1, 2]) {
                const res = await app.inject({ url: `/api/agents?${query}&page=${page}&limit=4`, headers: OPERATOR });
                const body = res.json();
                const ids = (
                  await selectRows<{ id: string }>(storage, `SELECT a.id FROM agents a ${where} ORDER BY ${orderBy[sort ?? 'registeredAt'](dir)} LIMIT 4 OFFSET @offset`, { ...params, offset: (page - 1) * 4 })
                ).map((r) => r.id);
                if (JSON.stringify(body.data?.map((a: { id: string }) => a.id)) !== JSON.stringify(ids) || body.pagination?.total !== total) {
                  t.fail(`${query || 'no filter'} page ${page}`, { got: body, expectedIds: ids, expectedTotal: total });
                }
                checked++;
              }
            }
          }
        }
      }
    }
  }
  t.equal(checked, 9 * 3 * 2 * 2 * 4 * 3 * 2, 'every combination answered like the plain query');

  // Spot checks a person would make.
  const hostnames = async (query: string) => (await app.inject({ url: `/api/agents?${query}`, headers: OPERATOR })).json();
  const web0 = await hostnames('q=WEB-0&sort=hostname&org_id=acme');
  t.same(web0.data.map((a: { hostname: string }) => a.hostname), ['Web-01', 'web-02', 'web-03', 'web-04', 'web-05']);
  t.equal(web0.pagination.total, 5, 'the search narrows the total');
  t.same((await hostnames('q=web_&org_id=acme')).data.map((a: { hostname: string }) => a.hostname), ['web_x'], '_ is no wildcard');
  t.same((await hostnames('q=edge%25&org_id=acme')).data.map((a: { hostname: string }) => a.hostname), ['edge%1'], '% is no wildcard');
  t.same((await hostnames('q=eb')).data, [], 'a prefix, not a substring');
  const byBeat = (await hostnames('sort=lastHeartbeat&limit=200')).data.map((a: { lastHeartbeat: string }) => a.lastHeartbeat);
  t.same(byBeat, [...byBeat].sort().reverse(), 'lastHeartbeat: newest first by default');
});

onBothEngines('agent list: a bad q, sort or order is a 400 in the envelope', async (t, engine) => {
  const { app } = await buildManagerOn(t, engine);
  await register(app);
  const cases: Array<[string, RegExp]> = [
    ['sort=name', /sort must be one of registeredAt, hostname, lastHeartbeat/],
    ['sort=', /sort must be one of/],
    ['order=up', /order must be one of asc, desc/],
    ['order=ASC', /order must be one of asc, desc/],
    ['q=', /q must be 1-64 characters/],
    [`q=${'a'.repeat(65)}`, /q must be 1-64 characters/],
    ['q=web%2001', /q must be 1-64 characters without spaces or control characters/],
    ['q=web%0A', /q must be 1-64 characters without spaces or control characters/],
  ];
  for (const [query, message] of cases) {
    const res = await app.inject({ url: `/api/agents?${query}`, headers: OPERATOR });
    t.equal(res.statusCode, 400, query);
    const body = res.json();
    t.equal(body.ok, false, `${query}: envelope`);
    t.match(body.error, message, `${query}: ${body.error}`);
  }
  const longest = await app.inject({ url: `/api/agents?q=${'a'.repeat(64)}&sort=hostname&order=desc`, headers: OPERATOR });
  t.equal(longest.statusCode, 200, '64 characters are fine');
  t.equal(longest.json().pagination.total, 0);
});

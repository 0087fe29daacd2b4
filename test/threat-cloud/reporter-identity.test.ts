import t, { type Test } from 'tap';
import { borrowed, type Engine } from '../engines.js';
import { authHeader } from '../helper.js';
import { ENROLL_TOKEN, event, buildManagerOn, OPERATOR, register, type RegisteredAgent } from '../manager/fixtures.js';
import { BOOTSTRAP_KEY, buildThreatCloud, onBothEngines, threat, userKeyOn } from './fixtures.js';

/**
 * Who counts as a reporter when the Manager's fleet feeds the Threat Cloud (threat-cloud.md
 * "Reputation", manager.md "Threat events"): the single-reporter cap is the Threat Cloud's
 * one promise to the firewalls that apply its blocklists, so every way one party could pass
 * for two is tried here against the default blocklist.
 */
const ATTACKED = '9.9.9.9';
/** The strongest single report there is: what an attacker would send. */
const STRONGEST = { type: 'brute_force', severity: 'critical', confidence: 1 };

/** The Manager and the Threat Cloud over one database, as in the process. */
async function platform(t: Test, engine: Engine) {
  const manager = await buildManagerOn(t, engine, { env: { MANAGER_ENROLL_TOKEN: ENROLL_TOKEN } });
  // The Threat Cloud is built (and so torn down) last: the Manager's app closes the shared storage.
  const tc = await buildThreatCloud(t, engine === 'sqlite' ? { db: manager.db } : { storage: borrowed(manager.storage) });
  const enroll = (org: string, hostname = `host-${org}`) => register(manager.app, { hostname, org_id: org }, authHeader(ENROLL_TOKEN));
  const enrollByOperator = (org: string, hostname = `host-${org}`) => register(manager.app, { hostname, org_id: org }, OPERATOR);
  const detect = async (agent: RegisteredAgent, ip: string, times = 1, extra: Record<string, unknown> = STRONGEST) => {
    const res = await manager.app.inject({
      method: 'POST',
      url: `/api/agents/${agent.id}/events`,
      headers: agent.headers,
      payload: { events: Array.from({ length: times }, () => event({ ...extra, details: { sourceIp: ip } })) },
    });
    t.equal(res.statusCode, 201, res.body);
  };
  const upload = async (key: string, ip: string, extra: Record<string, unknown> = { severity: 'critical', confidence: 1, category: 'bruteforce' }) => {
    const res = await tc.inject({ method: 'POST', url: '/api/threats', key, payload: { threats: [threat(ip, extra)] } });
    t.equal(res.statusCode, 201, res.body);
  };
  const factors = async (ip: string) => {
    const data = (await tc.inject({ url: `/api/iocs/${ip}` })).json().data as { reputation: number; reputationFactors: { reports: number; reporters: number } };
    return { reputation: data.reputation, ...data.reputationFactors };
  };
  const blocklisted = async (ip: string) => {
    const res = await tc.inject({ url: '/api/feeds/ip-blocklist' });
    t.equal(res.statusCode, 200);
    return res.body.split('\n').includes(ip);
  };
  return { ...manager, tc, enroll, enrollByOperator, detect, upload, factors, blocklisted };
}

onBothEngines('two agents the install token puts in two invented orgs are one reporter: the IP stays off the blocklist', async (t, engine) => {
  const p = await platform(t, engine);
  await p.detect(await p.enroll('org-a'), ATTACKED);
  await p.detect(await p.enroll('org-b'), ATTACKED);
  const after = await p.factors(ATTACKED);
  t.match(after, { reports: 2, reporters: 1 });
  t.ok(after.reputation > 30, `reputation ${after.reputation} stays above the threshold`);
  t.notOk(await p.blocklisted(ATTACKED), 'not on the ip-blocklist');

  // Twenty more invented orgs and many reports change nothing: the fleet is one reporter.
  for (let n = 0; n < 20; n++) await p.detect(await p.enroll(`invented-${n}`), ATTACKED, 5);
  const flooded = await p.factors(ATTACKED);
  t.match(flooded, { reports: 102, reporters: 1 });
  t.ok(flooded.reputation > 30, `reputation ${flooded.reputation} after 102 reports from 22 orgs`);
  t.notOk(await p.blocklisted(ATTACKED));
});

onBothEngines('a user key and an agent in the same user org are one reporter: the IP stays off the blocklist', async (t, engine) => {
  const p = await platform(t, engine);
  const owner = await userKeyOn(p.tc.storage, p.tc.clock, 'pro');
  await p.upload(owner.key, ATTACKED);
  await p.detect(await p.enrollByOperator(owner.userId), ATTACKED);
  const after = await p.factors(ATTACKED);
  t.match(after, { reports: 2, reporters: 1 });
  t.ok(after.reputation > 30, `reputation ${after.reputation}`);
  t.notOk(await p.blocklisted(ATTACKED));
});

onBothEngines('a genuinely independent second reporter still corroborates onto the blocklist', async (t, engine) => {
  t.test('the Manager fleet and a bootstrap key', async (t) => {
    const p = await platform(t, engine);
    await p.detect(await p.enroll('org-a'), ATTACKED);
    await p.upload(BOOTSTRAP_KEY, ATTACKED);
    const after = await p.factors(ATTACKED);
    t.match(after, { reports: 2, reporters: 2 });
    t.ok(after.reputation <= 30, `reputation ${after.reputation}`);
    t.ok(await p.blocklisted(ATTACKED), 'on the ip-blocklist');
  });

  t.test("two users' agents", async (t) => {
    const p = await platform(t, engine);
    const [alice, bob] = [await userKeyOn(p.tc.storage, p.tc.clock, 'pro'), await userKeyOn(p.tc.storage, p.tc.clock, 'pro')];
    await p.detect(await p.enrollByOperator(alice.userId), ATTACKED);
    await p.detect(await p.enrollByOperator(bob.userId), ATTACKED);
    t.match(await p.factors(ATTACKED), { reports: 2, reporters: 2 });
    t.ok(await p.blocklisted(ATTACKED));
  });

  t.test("a user's agent and the operator fleet", async (t) => {
    const p = await platform(t, engine);
    const alice = await userKeyOn(p.tc.storage, p.tc.clock, 'pro');
    await p.detect(await p.enrollByOperator(alice.userId), ATTACKED);
    await p.detect(await p.enroll('org-a'), ATTACKED);
    t.match(await p.factors(ATTACKED), { reports: 2, reporters: 2 });
    t.ok(await p.blocklisted(ATTACKED));
  });
});

onBothEngines('campaign affectedOrgs counts the Manager fleet once, and an independent reporter once more', async (t, engine) => {
  const p = await platform(t, engine);
  const correlate = async () => {
    while ((await p.tc.jobs.correlation.runBatch()) > 0);
  };
  const scan = { type: 'port_scan', severity: 'medium' };
  for (const [n, org] of ['org-x', 'org-y', 'org-z'].entries()) await p.detect(await p.enroll(org), `198.51.100.${n + 1}`, 1, scan);
  await correlate();
  const campaigns = async () => (await p.tc.inject({ url: '/api/campaigns' })).json().data as Array<{ id: string; iocCount: number; affectedOrgs: number }>;
  const [formed] = await campaigns();
  t.match(formed, { iocCount: 3, affectedOrgs: 1 }, 'three invented orgs, one reporter');
  const detail = (await p.tc.inject({ url: `/api/campaigns/${formed!.id}` })).json().data as { description: string };
  t.match(detail.description, /reported by 1 reporter /);

  await p.upload(BOOTSTRAP_KEY, '198.51.100.4', { category: 'scanner' });
  await correlate();
  t.match((await campaigns())[0], { iocCount: 4, affectedOrgs: 2 });
  const stats = (await p.tc.inject({ url: '/api/campaigns/stats' })).json().data as { totalAffectedOrgs: number };
  t.equal(stats.totalAffectedOrgs, 2);
});

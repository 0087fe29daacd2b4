import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { type Test } from 'tap';
import { DAY_MS } from '../../src/shared/time.js';
import { buildThreatCloud, buildThreatCloudOn, onBothEngines, operatorKeyOn, threat } from './fixtures.js';

// ajv and ajv-formats are CommonJS packages whose default export arrives wrapped under ESM.
const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

type Tc = Awaited<ReturnType<typeof buildThreatCloud>>;
type StixObject = Record<string, unknown> & { type: string; id: string };
interface Bundle {
  type: string;
  id: string;
  objects: StixObject[];
}

// Vendored (see its README): CI runs on a clean clone where the shared data folder may not exist.
const SCHEMAS = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/stix2.1-schemas/schemas');
const SCHEMA_BASE = 'http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas';

/** Every official schema in one Ajv 2020 instance, compiled by `$id` (they refer to each other so). */
function loadStixValidators() {
  // One official pattern uses the escape `\-`, which Unicode-mode regular expressions refuse.
  const ajv = new Ajv2020({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  for (const folder of readdirSync(SCHEMAS)) {
    for (const file of readdirSync(join(SCHEMAS, folder))) {
      if (file.endsWith('.json')) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMAS, folder, file), 'utf8')) as object);
    }
  }
  const compile = (path: string) => {
    const validate = ajv.getSchema(`${SCHEMA_BASE}/${path}`);
    if (!validate) throw new Error(`schema ${path} not loaded`);
    return validate;
  };
  return { bundle: compile('common/bundle.json'), indicator: compile('sdos/indicator.json'), identity: compile('sdos/identity.json') };
}
const validators = loadStixValidators();

/**
 * The STIX pattern grammar for one comparison: `[object:path = '<literal>']`, where inside the
 * literal only `\'` and `\\` are escapes and a bare quote or backslash cannot occur.
 * Returns the object path and the unescaped value, or null when the pattern is malformed.
 */
function parsePattern(pattern: string): { path: string; value: string } | null {
  const match = /^\[([a-z0-9-]+:(?:value|hashes\.'(?:MD5|SHA-1|SHA-256)')) = '((?:[^'\\]|\\['\\])*)'\]$/.exec(pattern);
  return match ? { path: match[1]!, value: match[2]!.replace(/\\(['\\])/g, '$1') } : null;
}

/**
 * Consumers that key on `id` + `modified`, as STIX 2.1 versioning intends, one per query (with
 * `maxReputation` the export marks what is above it): fails the test when a re-export changes
 * `created`, moves `modified` backwards, changes content without a later `modified`, or shows
 * two different objects under the same `id` + `modified`.
 */
function versionTracker(t: Test) {
  const seen = new Map<string, { created: unknown; modified: string; content: string; revoked: boolean }>();
  return (query: string, object: StixObject) => {
    const { modified, ...rest } = object as StixObject & { modified: string };
    const content = JSON.stringify(rest);
    t.ok(Date.parse(modified) >= Date.parse(String(object.created)), `${object.id}: modified is not before created`);
    const key = `${query.replace(/[?&]cursor=[^&]*/, '')} ${object.id}`;
    const before = seen.get(key);
    if (before) {
      t.equal(object.created, before.created, `${object.id}: created never changes`);
      t.ok(Date.parse(modified) >= Date.parse(before.modified), `${object.id}: modified never goes back`);
      if (content !== before.content) t.ok(Date.parse(modified) > Date.parse(before.modified), `${object.id}: a change comes with a later modified`);
      else t.equal(modified, before.modified, `${object.id}: an unchanged object keeps its version`);
      // STIX 2.1 §3.6: a revoked object is final.
      if (before.revoked) t.ok(object.revoked === true && modified === before.modified, `${object.id}: a revoked indicator never gets a new version`);
    }
    seen.set(key, { created: object.created, modified, content, revoked: object.revoked === true });
  };
}

/** Exports, checks the bundle and every object against the OASIS schemas and the pattern grammar. */
async function exportStix(t: Test, tc: Tc, query = ''): Promise<Bundle> {
  const res = await tc.inject({ url: `/api/feeds/stix${query}` });
  t.equal(res.statusCode, 200, res.body);
  const bundle = res.json() as Bundle;
  t.ok(validators.bundle(bundle), `bundle ${query} validates: ${JSON.stringify(validators.bundle.errors)}`);
  for (const object of bundle.objects) {
    if (object.type === 'identity') {
      t.ok(validators.identity(object), `identity validates: ${JSON.stringify(validators.identity.errors)}`);
      continue;
    }
    t.ok(validators.indicator(object), `${String(object.pattern)} validates: ${JSON.stringify(validators.indicator.errors)}`);
    t.ok(parsePattern(String(object.pattern)), `${String(object.pattern)} follows the pattern grammar`);
    if (object.valid_until !== undefined) t.ok(Date.parse(String(object.valid_until)) > Date.parse(String(object.valid_from)), 'valid_until is after valid_from');
  }
  return bundle;
}

/** Exports like exportStix and passes every object through one version tracker. */
function trackedExporter(t: Test, tc: Tc) {
  const track = versionTracker(t);
  return async (query = '') => {
    const bundle = await exportStix(t, tc, query);
    for (const object of bundle.objects) track(query, object);
    return bundle;
  };
}

const indicatorFor = (bundle: Bundle, pattern: string) => bundle.objects.find((object) => object.pattern === pattern);
const ipPattern = (ip: string) => `[ipv4-addr:value = '${ip}']`;
const ms = (object: StixObject) => Date.parse(String(object.modified));

const REPORTS = [
  { type: 'ip', value: '198.51.100.42' },
  { type: 'ip', value: '2001:db8::7' },
  { type: 'domain', value: 'evil.example' },
  { type: 'domain', value: 'bücher.example' },
  { type: 'url', value: "http://x.example/it's/a\\b?q='1'" },
  { type: 'hash', value: 'c'.repeat(32) },
  { type: 'hash', value: 'b'.repeat(40) },
  { type: 'hash', value: 'a'.repeat(64) },
  { type: 'email', value: "o'brien@evil.example" },
  { type: 'cve', value: 'CVE-2024-1234' },
];

/** What each report is stored as (normalised) and how the export must express it. */
const EXPECTED_PATTERNS = [
  "[ipv4-addr:value = '198.51.100.42']",
  "[ipv6-addr:value = '2001:db8::7']",
  "[domain-name:value = 'evil.example']",
  "[domain-name:value = 'xn--bcher-kva.example']",
  "[url:value = 'http://x.example/it\\'s/a\\\\b?q=\\'1\\'']",
  `[file:hashes.'MD5' = '${'c'.repeat(32)}']`,
  `[file:hashes.'SHA-1' = '${'b'.repeat(40)}']`,
  `[file:hashes.'SHA-256' = '${'a'.repeat(64)}']`,
  "[email-addr:value = 'o\\'brien@evil.example']",
];

onBothEngines('every bundle the export produces validates against the OASIS STIX 2.1 schemas', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const second = (await operatorKeyOn(tc.storage, tc.clock, 'enterprise', ['read', 'write'])).key;
  const res = await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: REPORTS.map((report) => ({ ...report, source: 's', category: 'c2', severity: 'critical', confidence: 1 })) } });
  t.equal(res.statusCode, 201, res.body);
  // A second reporter puts the IPv4 address on the default blocklist (reputation ≤ 30).
  await tc.inject({ method: 'POST', url: '/api/threats', key: second, payload: { threats: [threat('198.51.100.42', { severity: 'critical', confidence: 1 })] } });

  const full = await exportStix(t, tc);
  const indicators = full.objects.filter((object) => object.type === 'indicator');
  // In change order: the IPv4 address, reported again, comes last.
  t.same(indicators.map((object) => object.pattern), [...EXPECTED_PATTERNS.slice(1), EXPECTED_PATTERNS[0]], 'every type but CVE, escaped per the pattern grammar');
  t.same(indicators.map((object) => parsePattern(String(object.pattern))!.value), [
    '2001:db8::7', 'evil.example', 'xn--bcher-kva.example', "http://x.example/it's/a\\b?q='1'",
    'c'.repeat(32), 'b'.repeat(40), 'a'.repeat(64), "o'brien@evil.example", '198.51.100.42',
  ], 'each pattern unescapes to the stored value');
  for (const indicator of indicators) t.notOk(indicator.revoked, 'active indicators are not revoked');

  tc.clock.advance(1000);
  await tc.inject({ method: 'PUT', url: '/api/iocs/evil.example/status', payload: { status: 'whitelisted', reason: 'fp' } });
  await tc.inject({ method: 'PUT', url: `/api/iocs/${encodeURIComponent('2001:db8::7')}/status`, payload: { status: 'revoked', reason: 'fp' } });
  for (const query of ['', '?maxReputation=30', '?type=ip', '?type=hash&limit=2', '?since=2026-03-07T12:00:00.500Z', '?cursor=c1.c2VxOjE']) await exportStix(t, tc, query);

  // After the decay refresh has made everything expire, the export still validates.
  tc.clock.advance(91 * DAY_MS);
  await tc.jobs.refresh.run();
  const expired = await exportStix(t, tc);
  t.ok(expired.objects.length > 1);
  const empty = await exportStix(t, tc, `?since=${encodeURIComponent(new Date(tc.clock.now() + 1000).toISOString())}`);
  t.same(empty.objects.map((object) => object.type), ['identity'], 'an empty page still is a valid bundle (the identity alone)');
});

onBothEngines('STIX versioning: created stays, modified advances with every exported change', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const exportTracked = trackedExporter(t, tc);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.1', { severity: 'high', confidence: 0.5 }), threat('198.51.100.2', { severity: 'medium' }), threat('198.51.100.3')] } });
  const first = await exportTracked();
  const original = indicatorFor(first, ipPattern('198.51.100.1'))!;
  t.equal(original.created, '2026-03-07T12:00:00.000Z');
  t.equal(original.modified, '2026-03-07T12:00:00.000Z');
  const cursor = (await tc.inject({ url: '/api/feeds/iocs' })).json().data.nextCursor as string;
  t.same((await exportTracked()).objects, first.objects, 'an unchanged re-export is the same, version for version');

  // Whitelisting: the same indicator, revoked, in a later version; in full and incremental exports.
  tc.clock.advance(60_000);
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.1/status', payload: { status: 'whitelisted', reason: 'false positive' } });
  for (const bundle of [await exportTracked(), await exportTracked(`?cursor=${cursor}`)]) {
    const whitelisted = indicatorFor(bundle, ipPattern('198.51.100.1'))!;
    t.equal(whitelisted.id, original.id, 'same id');
    t.equal(whitelisted.created, original.created, 'same created');
    t.equal(whitelisted.modified, '2026-03-07T12:01:00.000Z', 'modified is the time of the status change');
    t.equal(whitelisted.revoked, true);
  }
  t.same((await exportTracked(`?cursor=${cursor}`)).objects.filter((object) => object.type === 'indicator').map((object) => object.pattern), [ipPattern('198.51.100.1')], 'only the changed IoC is in the incremental export');

  // Revocation by an operator works the same way.
  tc.clock.advance(1000);
  await tc.inject({ method: 'PUT', url: '/api/iocs/198.51.100.3/status', payload: { status: 'revoked', reason: 'sinkholed' } });
  const revoked = indicatorFor(await exportTracked(), ipPattern('198.51.100.3'))!;
  t.equal(revoked.revoked, true);
  t.ok(ms(revoked) > ms(original), 'later modified');

  // A new report changes the confidence: a later version.
  tc.clock.advance(1000);
  const before = indicatorFor(await exportTracked(), ipPattern('198.51.100.2'))!;
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.2', { severity: 'critical', confidence: 1 })] } });
  const reported = indicatorFor(await exportTracked(), ipPattern('198.51.100.2'))!;
  t.ok((reported.confidence as number) > (before.confidence as number), 'the confidence rose');
  t.equal(reported.modified, '2026-03-07T12:01:02.000Z', 'modified is the time of the report');
  t.equal(reported.created, before.created);

  // The hourly decay lowers the exported confidence in place (outside the change sequence): a full export dates it.
  tc.clock.advance(3 * DAY_MS);
  const refreshed = await tc.jobs.refresh.run();
  t.ok(refreshed.rescored >= 1, 'scores decayed');
  const afterDecay = await exportTracked();
  t.same(indicatorFor(afterDecay, ipPattern('198.51.100.3')), revoked, 'decay does not re-version a revoked indicator');
  const decayed = indicatorFor(afterDecay, ipPattern('198.51.100.2'))!;
  t.ok((decayed.confidence as number) < (reported.confidence as number), 'the confidence fell with decay');
  t.ok(ms(decayed) > ms(reported), 'decay gives a later modified');
  t.ok(ms(decayed) <= tc.clock.now(), 'never a modified in the future');
  t.same((await exportTracked()).objects, (await exportTracked()).objects, 'stable while nothing changes');

  // Expiry is validity, not revocation (a new sighting brings the IoC back under the same id).
  tc.clock.advance(90 * DAY_MS);
  await tc.jobs.refresh.run();
  const expired = indicatorFor(await exportTracked(), ipPattern('198.51.100.2'))!;
  t.notOk(expired.revoked, 'an expired IoC is not revoked');
  t.equal(expired.valid_until, expired.modified, 'valid until it expired');
  tc.clock.advance(1000);
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat('198.51.100.2')] } });
  const back = indicatorFor(await exportTracked(), ipPattern('198.51.100.2'))!;
  t.equal(back.id, before.id, 'same id');
  t.equal(back.valid_until, undefined, 'valid again');
  t.ok(ms(back) > ms(expired), 'later modified');
  await exportTracked('?maxReputation=30');

  // The identity is one unchanging object, whatever the export starts with.
  const identities = new Set([JSON.stringify((await exportTracked()).objects[0]), JSON.stringify((await exportTracked(`?cursor=${cursor}`)).objects[0]), JSON.stringify((await exportTracked('?type=hash')).objects[0])]);
  t.equal(identities.size, 1, 'the identity never changes');
});

onBothEngines('STIX versioning: an IoC active again after a revocation is a new indicator; the earlier ids stay revoked', async (t, engine) => {
  const tc = await buildThreatCloudOn(t, engine);
  const exportTracked = trackedExporter(t, tc);
  const ip = '198.51.100.9';
  const indicatorsOf = (bundle: Bundle) => bundle.objects.filter((object) => object.pattern === ipPattern(ip));
  const setStatus = async (status: string) => {
    tc.clock.advance(60_000);
    const res = await tc.inject({ method: 'PUT', url: `/api/iocs/${ip}/status`, payload: { status, reason: 'operator' } });
    t.equal(res.statusCode, 200, res.body);
  };
  await tc.inject({ method: 'POST', url: '/api/threats', payload: { threats: [threat(ip)] } });
  const [original] = indicatorsOf(await exportTracked());
  const cursor = (await tc.inject({ url: '/api/feeds/iocs' })).json().data.nextCursor as string;

  await setStatus('whitelisted');
  const [whitelisted] = indicatorsOf(await exportTracked());
  t.equal(whitelisted!.id, original!.id);
  t.equal(whitelisted!.revoked, true);

  await setStatus('active');
  for (const bundle of [await exportTracked(), await exportTracked(`?cursor=${cursor}`)]) {
    const [earlier, current, ...more] = indicatorsOf(bundle);
    t.equal(more.length, 0, 'two indicators: the earlier id and the current one');
    t.same(earlier, whitelisted, 'the earlier id is exported exactly as its last, revoked version');
    t.not(current!.id, original!.id, 'a new id');
    t.equal(current!.revoked, false, 'the new id is active');
    t.equal(current!.created, '2026-03-07T12:02:00.000Z', 'created when the IoC became active again');
    t.ok(ms(current!) >= Date.parse(String(current!.created)));
  }

  await setStatus('revoked');
  const [first, second] = indicatorsOf(await exportTracked());
  t.same(first, whitelisted, 'the first id is untouched');
  t.equal(second!.revoked, true, 'the second id is revoked in turn');
  t.equal(second!.modified, '2026-03-07T12:03:00.000Z');

  await setStatus('active');
  const third = indicatorsOf(await exportTracked());
  t.same(third.map((object) => object.revoked), [true, true, false], 'every earlier id stays revoked; the third is active');
  t.equal(new Set(third.map((object) => object.id)).size, 3, 'three distinct ids');
  t.same(third.slice(0, 2), [first, second], 'earlier ids keep their last versions');

  // Restarts and later exports give the same ids: they come from the stored lineage.
  t.same(indicatorsOf(await exportTracked()), third, 'stable across exports');
});

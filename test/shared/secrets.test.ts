import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ensureSecrets } from '../../src/shared/secrets.js';
import { ensureSelfSignedCertificate } from '../../src/shared/certificate.js';
import { X509Certificate } from 'node:crypto';
import { tempDir } from '../helper.js';

t.test('secrets are generated once, kept 0600 and reused', async (t) => {
  const dir = tempDir(t);
  const first = ensureSecrets(dir, {});
  t.same(first.generated.sort(), ['jwtSecret', 'managerAuthToken', 'tcAdminToken', 'totpEncryptionKey']);
  t.equal(statSync(first.file).mode & 0o777, 0o600);
  t.ok(first.secrets.jwtSecret.length >= 32);
  t.match(first.secrets.totpEncryptionKey, /^[0-9a-f]{64}$/);
  const second = ensureSecrets(dir, {});
  t.same(second.generated, [], 'nothing generated on the second start');
  t.same(second.secrets, first.secrets, 'the same secrets come back');
});

t.test('configured secrets win and are never written to disk', async (t) => {
  const dir = tempDir(t);
  const given = 'configured-jwt-secret-0123456789abcdef';
  const { secrets, generated, file } = ensureSecrets(dir, { jwtSecret: given });
  t.equal(secrets.jwtSecret, given);
  t.notOk(generated.includes('jwtSecret'));
  t.notMatch(readFileSync(file, 'utf8'), given);
});

t.test('the Manager certificate is made once with the contract SANs and a private key 0600', async (t) => {
  const dir = tempDir(t);
  const certFile = path.join(dir, 'certs', 'manager.crt');
  const keyFile = path.join(dir, 'certs', 'manager.key');
  const made = await ensureSelfSignedCertificate(certFile, keyFile);
  t.equal(made.created, true);
  t.equal(statSync(keyFile).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(certFile));
  t.match(cert.subjectAltName ?? '', /DNS:localhost/);
  t.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  t.ok(days >= 824 && days <= 826, `valid 825 days (${days})`);
  const again = await ensureSelfSignedCertificate(certFile, keyFile);
  t.equal(again.created, false, 'reused on the next start');
  t.equal(again.cert.toString(), readFileSync(certFile, 'utf8'));
  await t.rejects(ensureSelfSignedCertificate(certFile, path.join(dir, 'other.key')), /Only one of/);
});

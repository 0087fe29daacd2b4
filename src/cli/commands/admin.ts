import { parseArgs } from 'node:util';
import { COMMON_PASSWORD_MESSAGE, isCommonPassword } from '../../auth/services/common-passwords.js';
import { ADMINS_LOCK } from '../../auth/services/accounts.js';
import { createPasswordHasher } from '../../auth/services/password-hasher.js';
import { RegisterBody } from '../../auth/schemas.js';
import { createAuditStore } from '../../auth/stores/audit.js';
import { createUserStore } from '../../auth/stores/users.js';
import { systemClock } from '../../shared/clock.js';
import { createValidatorCompiler, describeValidationError } from '../../shared/validation.js';
import { cliConfig, CommandError, openMigratedStorage, UsageError, type CliCommand } from '../context.js';

const USAGE = 'panguard admin create --email <email> --name <name>   (password on standard input)';

/** The register route's own body schema and compiler: the CLI accepts exactly what the API accepts. */
function validateAccount(input: { email: string; name: string; password: string }): void {
  const validate = createValidatorCompiler()({ schema: RegisterBody, method: 'POST', url: '/cli/admin', httpPart: 'body' }) as unknown as {
    (data: unknown): boolean;
    errors?: Parameters<typeof describeValidationError>[0][] | null;
  };
  if (!validate(input)) throw new UsageError(describeValidationError(validate.errors![0]!, 'body'));
  if (isCommonPassword(input.password)) throw new UsageError(COMMON_PASSWORD_MESSAGE);
}

/** One line piped on stdin; only the line break a shell or `echo` adds is removed. */
function passwordFrom(stdin: string): string {
  return stdin.replace(/\r?\n$/, '');
}

export const adminCommand: CliCommand = {
  name: 'admin',
  summary: 'create an administrator account without the API (password read from standard input)',
  usage: USAGE,
  async run(args, io) {
    const [action, ...rest] = args;
    if (action !== 'create') throw new UsageError(action ? `unknown admin action "${action}"; usage: ${USAGE}` : `an action is required; usage: ${USAGE}`);
    let values: { email?: string; name?: string };
    try {
      ({ values } = parseArgs({ args: rest, options: { email: { type: 'string' }, name: { type: 'string' } }, strict: true, allowPositionals: false }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (values.email === undefined || values.name === undefined) throw new UsageError(`--email and --name are required; usage: ${USAGE}`);
    const email = values.email.trim().toLowerCase();
    const name = values.name.trim();
    const password = passwordFrom(await io.readStdin());
    // Never from argv: it would show in `ps` and the shell history.
    if (password === '') throw new UsageError('no password on standard input; pipe it in, e.g. printf \'%s\' "$PASSWORD" | panguard admin create …');
    validateAccount({ email, name, password });

    const config = cliConfig(io);
    const storage = await openMigratedStorage(config);
    try {
      const users = createUserStore(storage, systemClock);
      const audit = createAuditStore(storage, systemClock);
      if (await users.getByEmail(storage, email)) throw new CommandError(`an account with the e-mail ${email} exists already`);
      // The same scrypt cost the Auth Server uses, so the hash verifies at login unchanged.
      const passwordHash = await createPasswordHasher(config.auth.scryptLogN).hash(password);
      // Under the lock the server's registrations take, which decides who is admin.
      const id = await storage.transaction({ durable: true, locks: [ADMINS_LOCK] }, async (tx) => {
        // Checked again inside the write: the server may have registered the address meanwhile.
        if (await users.getByEmail(tx, email)) return null;
        const created = await users.insert(tx, { email, name, passwordHash, role: 'admin' });
        await audit.record(tx, { action: 'admin.create', actorId: null, targetId: created, ip: null, details: { role: 'admin', via: 'cli' } });
        return created;
      });
      if (!id) throw new CommandError(`an account with the e-mail ${email} exists already`);
      io.out(`created admin ${id} (${email})`);
    } finally {
      await storage.close();
    }
  },
};

import type { FastifyBaseLogger } from 'fastify';
import { pino, type ChildLoggerOptions, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths pino censors wherever they appear in a log object: credentials in headers and in any
 * body or object logged by mistake. Fastify's request serializer logs no headers or bodies,
 * so this is the second line of defence, not the first.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-signature"]',
  'headers.authorization',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.totpCode',
  '*.backupCode',
  '*.secret',
  '*.key',
  '*.agentToken',
  'password',
  'token',
  'secret',
];

export function createRootLogger(level: LoggerOptions['level'] = 'info'): Logger {
  return pino({
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { req: requestSerializer },
  });
}

/** Request log line without the query string, which may carry tokens (reset links, cursors). */
export function requestSerializer(req: { method: string; url: string; ip?: string; id: string }) {
  const queryAt = req.url.indexOf('?');
  return { id: req.id, method: req.method, path: queryAt === -1 ? req.url : req.url.slice(0, queryAt), ip: req.ip };
}

type Bindings = Record<string, unknown>;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
/** The app's logger, a pino logger (which knows isLevelEnabled). */
type ParentLogger = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };

/**
 * A request's logger that becomes a pino child only when something is logged at an enabled
 * level. Fastify makes a child per request, which serialises the bindings through the
 * redaction; most requests log nothing at the configured level (every request at `warn`,
 * `/health` probes at any level), so that was per-request work for no line. Methods live on
 * the prototype: a request allocates this object and nothing else.
 */
class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: ParentLogger,
    private readonly bindings: Bindings,
  ) {}

  private real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  /** The logger to write to at `level`, or null when that level is off. */
  private at(level: Level): FastifyBaseLogger | null {
    if (this.made) return this.made;
    return writesAt(this.parent, level) ? this.real() : null;
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.at('fatal')?.fatal(...(args as [string]));
  }
  error(...args: unknown[]): void {
    this.at('error')?.error(...(args as [string]));
  }
  warn(...args: unknown[]): void {
    this.at('warn')?.warn(...(args as [string]));
  }
  info(...args: unknown[]): void {
    this.at('info')?.info(...(args as [string]));
  }
  debug(...args: unknown[]): void {
    this.at('debug')?.debug(...(args as [string]));
  }
  trace(...args: unknown[]): void {
    this.at('trace')?.trace(...(args as [string]));
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }
}

/** Whether `logger` writes lines at `level` (one that cannot tell is taken to). The level is set once, at start-up. */
export function writesAt(logger: FastifyBaseLogger, level: Level): boolean {
  return (logger as ParentLogger).isLevelEnabled?.(level) !== false;
}

/** What a request's log lines show of its reply (as Fastify's own serializer does). */
function responseSerializer(reply: { statusCode: number }) {
  return { statusCode: reply.statusCode };
}

/**
 * Fastify's `childLoggerFactory` for an app that hands Fastify no logger of its own
 * (base-app.ts says why): request loggers are children of `logger`, made on first use (see
 * RequestLogger), with the request and reply serializers Fastify would have added. A route
 * with its own log level or serializers gets a real child at once.
 */
export function requestLoggerFactory(logger: FastifyBaseLogger) {
  const parent = logger.child({}, { serializers: { req: requestSerializer, res: responseSerializer } });
  return (_fastifyLogger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger => {
    if (options.level !== undefined || options.serializers !== undefined) return parent.child(bindings, options);
    return new RequestLogger(parent, bindings);
  };
}

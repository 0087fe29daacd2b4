import { pino, type Logger, type LoggerOptions } from 'pino';

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

// Structured JSON logs on stdout, one object per line, for any log pipeline to parse. Errors are logged
// once each; successful requests are not logged at all by default (metrics count them).
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level: string, defaultMeta: Record<string, string> = {}): Logger {
  return winston.createLogger({
    level,
    defaultMeta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

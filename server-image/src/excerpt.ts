// Text from a client or an upstream (a version name from the path, an output name, an upstream's error, a
// value in a request) goes into error messages and logs only as a bounded excerpt: a 20 MB input must not
// come back as a 20 MB error, nor fill the log. Pure; shared by the server's decoding and the router.

/** Characters kept of any text a message quotes. */
export const EXCERPT_CHARS = 120;

/** `text` whole when short, else its first `max` characters and how many more there were. */
export function excerpt(text: string, max = EXCERPT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}

/**
 * A client-supplied JSON value as an error message quotes it: a string in quotes, cut to an excerpt with
 * its full length; containers by their size, never their contents.
 */
export function quoteValue(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= EXCERPT_CHARS) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, EXCERPT_CHARS))}… (${value.length} characters)`;
  }
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'bigint') return `${value}n`;
  return String(value);
}
